// Config validation: every refusal names the file, the line and the field; the example configs load.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigProblems, loadConfig, parseConfig } from './config';
import { matchRule } from './policy';

const ROOT = resolve(import.meta.dirname, '..', '..');
const HEAD = `public_url: http://127.0.0.1:8080
issuers:
  github-actions:
    issuer: https://token.actions.githubusercontent.com
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, 'b.yml');
  } catch (err: unknown) {
    if (err instanceof ConfigProblems) return err.problems;
    throw err;
  }
  return [];
}

function rule(fields: string, extra = ''): string {
  return `${HEAD}${extra}projects:\n  - id: web\n    rules:\n      - { provider: github-actions, ${fields} }\n`;
}

const refusals: { name: string; text: string; want: RegExp }[] = [
  {
    name: 'an unknown top-level key',
    text: `${HEAD}projectz: []\n`,
    want: /^b\.yml:5: projectz: unknown key/,
  },
  {
    name: 'a duplicate key',
    text: `${HEAD}projects:\n  - id: web\n    id: api\n    rules: []\n`,
    want: /^b\.yml:7: duplicate key/,
  },
  {
    name: 'an unknown rule key (a typo)',
    text: rule('repository: acme/web, repository_id: "1", refs: refs/heads/main'),
    want: /^b\.yml:8: projects\[0\]\.rules\[0\]\.refs: unknown key/,
  },
  {
    name: 'a bare * ref',
    text: rule('repository: acme/web, repository_id: "1", ref: "*"'),
    want: /rules\[0\]\.ref: pattern is a bare "\*"/,
  },
  {
    name: 'a bare ** workflow_ref',
    text: rule('repository: acme/web, workflow_ref: "**"'),
    want: /workflow_ref: pattern is a bare "\*\*"/,
  },
  {
    name: 'a bad element in the middle of event_name',
    text: rule('repository: acme/web, event_name: [push, "Pull Request", schedule]'),
    want: /event_name\[1\]: "Pull Request" is not a valid value/,
  },
  {
    name: 'a bad element in grants',
    text: rule('repository: acme/web, grants: [build, "cache:admin"]'),
    want: /grants\[1\]: "cache:admin" is not a grant/,
  },
  {
    name: 'a rule with no repository or owner',
    text: rule('ref: refs/heads/main'),
    want: /would trust every GitHub repository/,
  },
  {
    name: 'a repository glob',
    text: rule('repository: "acme/*"'),
    want: /repository: "acme\/\*" is not owner\/name/,
  },
  {
    name: 'a non-numeric repository_id',
    text: rule('repository: acme/web, repository_id: "12a"'),
    want: /repository_id: "12a" is not a numeric id/,
  },
  {
    name: 'a project id outside the pattern',
    text: `${HEAD}projects:\n  - id: Web_\n    rules: [{ provider: github-actions, repository: a/b }]\n`,
    want: /projects\[0\]\.id: "Web_" is not a project id/,
  },
  {
    name: 'a cache repository under builds/',
    text: `${HEAD}projects:\n  - id: web\n    cache_repository: builds/web\n    rules: [{ provider: github-actions, repository: a/b }]\n`,
    want: /cache_repository: "builds\/web" is under builds\//,
  },
  {
    name: 'one repository used by two projects',
    text: `${HEAD}projects:\n  - id: web\n    rules: [{ provider: github-actions, repository: a/b }]\n  - id: api\n    cache_repository: cache/web\n    rules: [{ provider: github-actions, repository: a/c }]\n`,
    want: /^b\.yml:9: projects\[1\]\.cache_repository: "cache\/web" is already the cache of project web/,
  },
  {
    name: 'an http issuer on a non-loopback host',
    text: `public_url: http://127.0.0.1:8080\nissuers:\n  github-actions:\n    issuer: http://token.example.com\n`,
    want: /issuers\.github-actions\.issuer: "http:\/\/token\.example\.com" is http:\/\/ on a non-loopback host/,
  },
  {
    name: 'a symmetric algorithm',
    text: `public_url: http://127.0.0.1:8080\nissuers:\n  github-actions:\n    issuer: https://t.example.com\n    algorithms: [RS256, HS256]\n`,
    want: /algorithms\[1\]: "HS256" is not an asymmetric JWS algorithm/,
  },
  {
    name: 'a token_ttl over 1h',
    text: `${HEAD}token_ttl: 2h\n`,
    want: /token_ttl: 2h is longer than the cap of 1h/,
  },
  {
    name: 'the broker itself as an issuer',
    text: `public_url: http://127.0.0.1:8080\nissuers:\n  github-actions:\n    issuer: http://127.0.0.1:8080\n`,
    want: /is the broker itself/,
  },
  {
    name: 'a duplicate rule id',
    text: `${HEAD}projects:\n  - id: web\n    rules:\n      - { id: r, provider: github-actions, repository: a/b }\n      - { id: r, provider: github-actions, repository: a/c }\n`,
    want: /^b\.yml:9: projects\[0\]\.rules\[1\]\.id: rule id r is already used/,
  },
  { name: 'a missing public_url', text: 'issuers: {}\n', want: /public_url: is required/ },
];

describe('validate-config refuses', () => {
  it.each(refusals)('$name', ({ text, want }) => {
    const p = problems(text);
    expect(
      p.some((line) => want.test(line)),
      p.join('\n'),
    ).toBe(true);
  });
});

// Problems the schema (config-schema.ts) finds, each exactly as printed: file, line, path, what was wrong and what to do.
const exact: { name: string; text: string; want: string }[] = [
  {
    name: 'an unknown top-level key',
    text: `${HEAD}token_tll: 1h\n`,
    want: 'b.yml:5: token_tll: unknown key (allowed here: public_url, audience, token_ttl, issuers, registry, github, projects, trusted_proxies, metrics_allow, registry_signer_ttl, key_rotation, rate_limit, audit_retention, audit_unverified_per_minute, cache, store)',
  },
  {
    name: 'an unknown key in an issuer entry',
    text: `${HEAD}    jwks: https://token.actions.githubusercontent.com/.well-known/jwks\n`,
    want: 'b.yml:5: issuers.github-actions.jwks: unknown key (allowed here: provider, issuer, jwks_uri, algorithms, audience, single_use, max_token_age, required_claims)',
  },
  {
    name: 'an unknown key in a rule',
    text: rule('repository: acme/web, repository_id: "1", branch: main'),
    want: 'b.yml:8: projects[0].rules[0].branch: unknown key (allowed here: id, provider, issuer, grants, isolated, claims; github-actions: repository, repository_id, repository_owner, repository_owner_id, ref, environment, workflow_ref, job_workflow_ref, event_name; circleci: project_id, vcs_origin, vcs_ref, context_ids; gitlab: project_path, project_id, namespace_path, namespace_id, ref, ref_type, ref_protected, pipeline_source, environment; buildkite: organization_slug, organization_id, pipeline_slug, pipeline_id, build_branch, build_tag, step_key, build_source)',
  },
  {
    name: 'a list where a boolean belongs',
    text: rule('repository: acme/web, repository_id: "1", isolated: [true]'),
    want: 'b.yml:8: projects[0].rules[0].isolated: must be true or false',
  },
  {
    name: 'a number where a URL belongs',
    text: `public_url: 8080\nissuers:\n  github-actions:\n    issuer: https://token.actions.githubusercontent.com\n`,
    want: 'b.yml:1: public_url: must be a non-empty string',
  },
  {
    name: 'a mapping where the rules list belongs',
    text: `${HEAD}projects:\n  - id: web\n    rules: { provider: github-actions }\n`,
    want: 'b.yml:7: projects[0].rules: is required: a list of trust rules (e.g. {provider: github-actions, repository: acme/web, repository_id: "123"})',
  },
  {
    name: 'a bad duration',
    text: `${HEAD}token_ttl: 5x\n`,
    want: 'b.yml:5: token_ttl: "5x" is not a duration (e.g. 15m, 1h)',
  },
  {
    name: 'a bad max_token_age',
    text: `${HEAD}    max_token_age: soon\n`,
    want: 'b.yml:5: issuers.github-actions.max_token_age: "soon" is not a duration (e.g. 10m)',
  },
  {
    name: 'a project id outside PROJECT_ID',
    text: `${HEAD}projects:\n  - id: Web_\n    rules: [{ provider: github-actions, repository: a/b }]\n`,
    want: 'b.yml:6: projects[0].id: "Web_" is not a project id: use lowercase letters and digits, separated by single . _ or - (e.g. web)',
  },
  {
    name: 'an issuer key outside the pattern',
    text: `${HEAD}  GitHub:\n    provider: github-actions\n    issuer: https://example.com\n`,
    want: 'b.yml:5: issuers.GitHub: "GitHub" is not an issuer key: use lower case letters, digits, - and _',
  },
  {
    name: 'a provider outside the contract',
    text: rule('repository: acme/web', '').replace('provider: github-actions', 'provider: jenkins'),
    want: 'b.yml:8: projects[0].rules[0].provider: "jenkins" is not a provider: use one of github-actions, circleci, gitlab, buildkite',
  },
];

describe('validate-config refuses, word for word', () => {
  it.each(exact)('$name', ({ text, want }) => {
    expect(problems(text)).toEqual([want]);
  });

  it('reports every problem of a file, in line order, not just the first', () => {
    const p = problems(
      `${HEAD}    single_use: maybe\ntoken_ttl: 2h\nprojects:\n  - id: web\n    rules:\n      - { provider: github-actions, repository: acme/web, ref: "**" }\n      - { provider: github-actions, ref: refs/heads/main }\n`,
    );
    expect(p).toEqual([
      'b.yml:5: issuers.github-actions.single_use: must be true or false',
      'b.yml:6: token_ttl: 2h is longer than the cap of 1h',
      'b.yml:10: projects[0].rules[0].ref: pattern is a bare "**", which matches everything: name the refs or workflows',
      'b.yml:11: projects[0].rules[1]: rule web#1 names neither repository nor repository_owner: it would trust every GitHub repository',
    ]);
  });
});

describe('github and fork_policy (the fork-PR claim flow)', () => {
  it('are read without warnings; github takes its defaults when absent', () => {
    const c = parseConfig(
      `${HEAD}projects:\n  - id: web\n    fork_policy: isolated\n    rules: [{ id: main, provider: github-actions, repository: a/b, repository_id: "1" }]\n`,
      'b.yml',
    );
    expect(c.warnings).toEqual([]);
    expect(c.github).toEqual({ apiUrl: 'https://api.github.com', tokenEnv: 'BROKER_GITHUB_TOKEN' });
    expect(c.forkIssuer?.key).toBe('github-actions');
    expect(c.rateLimit).toMatchObject({ claimsPerAddress: 30, claimsPerRun: 30 });
    const g = parseConfig(
      `${HEAD}github: { token_env: GH_TOKEN }\nrate_limit: { claims_per_address: 5, claims_per_run: 0 }\nprojects:\n  - id: web\n    rules: [{ id: main, provider: github-actions, repository: a/b, repository_id: "1" }]\n`,
      'b.yml',
    );
    expect(g.warnings).toEqual([]);
    expect(g.github).toEqual({ apiUrl: 'https://api.github.com', tokenEnv: 'GH_TOKEN' });
    expect(g.rateLimit).toMatchObject({ claimsPerAddress: 5, claimsPerRun: 0 });
  });

  it('still refuses their wrong shapes', () => {
    expect(
      problems(
        `${HEAD}github: { api_url: ftp://x, token: y }\nprojects:\n  - id: web\n    fork_policy: open\n    rules: [{ provider: github-actions, repository: a/b }]\n`,
      ),
    ).toEqual([
      'b.yml:5: github.api_url: "ftp://x" must be an http(s) URL',
      'b.yml:5: github.token: unknown key (allowed here: api_url, token_env)',
      'b.yml:8: projects[0].fork_policy: "open" is not a fork policy: use isolated or deny',
    ]);
  });

  const twoIssuers = (api: string, policy: string) =>
    `public_url: http://127.0.0.1:8080
issuers:
  github-actions: { issuer: https://token.actions.githubusercontent.com }
  ghes: { provider: github-actions, issuer: https://ghe.acme.test/_services/token }
github: { api_url: ${api} }
projects:
  - id: web
    fork_policy: ${policy}
    rules: [{ id: main, issuer: github-actions, repository: a/b, repository_id: "1" }]
`;

  it('with several github-actions issuers, the fork issuer is the one whose host goes with github.api_url', () => {
    expect(parseConfig(twoIssuers('https://api.github.com', 'isolated'), 'b.yml').forkIssuer?.key).toBe(
      'github-actions',
    );
    expect(parseConfig(twoIssuers('https://ghe.acme.test/api/v3', 'isolated'), 'b.yml').forkIssuer?.key).toBe(
      'ghes',
    );
  });

  it('refuses isolated projects when github.api_url belongs to none of several github-actions issuers', () => {
    expect(problems(twoIssuers('https://api.other.test', 'isolated'))).toEqual([
      'b.yml:5: github.api_url: https://api.other.test belongs to none of the github-actions issuer entries (github-actions, ghes), whose issuer host should be api.other.test: set github.api_url to the GitHub whose fork pull requests isolated projects build',
    ]);
    expect(parseConfig(twoIssuers('https://api.other.test', 'deny'), 'b.yml').forkIssuer).toBeUndefined();
  });

  it('examples/demo/broker.yml and examples/broker.yml load without warnings', () => {
    for (const file of [join(ROOT, 'examples', 'demo', 'broker.yml'), join(ROOT, 'examples', 'broker.yml')]) {
      const c = loadConfig(file);
      expect(c.warnings).toEqual([]);
    }
    expect(loadConfig(join(ROOT, 'examples', 'demo', 'broker.yml')).projects[0]?.forkPolicy).toBe('isolated');
  });
});

describe('config warnings and compiled rules', () => {
  it('warns about a repository without its id, and about a shadowed rule', () => {
    const c = parseConfig(
      `${HEAD}projects:\n  - id: web\n    rules:\n      - { id: a, provider: github-actions, repository: acme/web, repository_id: "1" }\n      - { id: b, provider: github-actions, repository: acme/web, repository_id: "1", ref: refs/heads/main }\n      - { id: c, provider: github-actions, repository: acme/api }\n`,
      'b.yml',
    );
    expect(c.warnings.join('\n')).toMatch(/b\.yml:9: .*rule b is shadowed by the earlier rule a/);
    expect(c.warnings.join('\n')).toMatch(/b\.yml:10: .*rule c names a repository without its repository_id/);
  });

  it('defaults: audience = public_url, cache/<id>, deny, <project>#<index>, the GitHub JWKS URI', () => {
    const c = parseConfig(rule('repository: acme/web, repository_id: 123'), 'b.yml');
    expect(c.audience).toBe('http://127.0.0.1:8080');
    expect(c.issuers[0]).toMatchObject({
      jwksUri: 'https://token.actions.githubusercontent.com/.well-known/jwks',
      algorithms: ['RS256'],
      singleUse: true,
    });
    expect(c.projects[0]).toMatchObject({ cacheRepository: 'cache/web', forkPolicy: 'deny' });
    expect(c.projects[0]?.rules[0]?.id).toBe('web#0');
  });

  it('globs: * stays in one segment, ** crosses them, everything is anchored', () => {
    const c = parseConfig(
      rule('repository: a/b, ref: "refs/heads/*", workflow_ref: "a/b/.github/workflows/**"'),
      'b.yml',
    );
    const r = c.projects[0]?.rules[0];
    if (!r) throw new Error('no rule');
    const base = {
      repository: 'a/b',
      event_name: 'push',
      workflow_ref: 'a/b/.github/workflows/x/y.yml@refs/heads/main',
    };
    expect(matchRule(r, { ...base, ref: 'refs/heads/main' }).ok).toBe(true);
    expect(matchRule(r, { ...base, ref: 'refs/heads/a/b' }).ok).toBe(false);
    expect(matchRule(r, { ...base, ref: 'xrefs/heads/main' }).ok).toBe(false);
    expect(
      matchRule(r, { ...base, ref: 'refs/heads/main', workflow_ref: 'evil/a/b/.github/workflows/x' }).ok,
    ).toBe(false);
  });
});

describe('the example configs and the validate-config command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'broker-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('examples/broker.yml and examples/demo/broker.yml load', () => {
    expect(loadConfig(join(ROOT, 'examples', 'broker.yml')).projects.length).toBeGreaterThan(0);
    expect(loadConfig(join(ROOT, 'examples', 'demo', 'broker.yml')).projects.length).toBeGreaterThan(0);
  });

  it('prints every problem with file and line, one per line, and exits 1 without a stack trace', () => {
    const file = join(dir, 'bad.yml');
    writeFileSync(file, rule('repository: acme/web, ref: "**", colour: blue'));
    const r = spawnSync(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      [join(ROOT, 'oidc-broker', 'src', 'main.ts'), 'validate-config', file],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.startsWith(`${file}:8: projects[0].rules[0].`))).toBe(true);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('hardening', () => {
  const GHES = `  ghes:
    provider: github-actions
    issuer: https://ghe.acme.example/_services/token
    jwks_uri: https://ghe.acme.example/_services/token/.well-known/jwks
`;

  it('refuses a rule that pins no issuer when its provider has several issuer entries', () => {
    expect(
      problems(
        `${HEAD}${GHES}projects:\n  - id: web\n    rules:\n      - { id: gh, issuer: github-actions, repository: acme/web, repository_id: "1" }\n      - { id: loose, provider: github-actions, repository: acme/web, repository_id: "1" }\n`,
      ),
    ).toEqual([
      'b.yml:13: projects[0].rules[1]: rule loose pins no issuer, but github-actions has 2 issuer entries (github-actions, ghes): add issuer: <one of them>',
    ]);
  });

  it('refuses claims: pins of fields the provider models, and bare wildcards', () => {
    const rule = (claims: string) =>
      `${HEAD}projects:\n  - id: web\n    rules:\n      - id: r\n        provider: github-actions\n        repository: acme/web\n        claims: ${claims}\n`;
    expect(problems(rule('{ repository_id: "1", ref_type: branch }'))).toEqual([
      'b.yml:11: projects[0].rules[0].claims.repository_id: is a field provider github-actions models: write it as the rule key repository_id (its own matching), not under claims',
    ]);
    expect(problems(rule('{ ref_type: "*" }'))).toEqual([
      'b.yml:11: projects[0].rules[0].claims.ref_type: pattern is a bare "*", which matches everything: name the refs or workflows',
    ]);
    expect(problems(rule('{ "bad name!": x }'))).toEqual([
      'b.yml:11: projects[0].rules[0].claims.bad name!: "bad name!" is not a claim name',
    ]);
  });

  it('refuses a public_url that is http:// on a non-loopback host, and addresses that are not CIDR', () => {
    expect(
      problems(
        `${HEAD.replace('http://127.0.0.1:8080', 'http://broker.acme.example')}trusted_proxies: [10.0.0.0/8, proxy.internal]\nmetrics_allow: 10.0.0.1\n`,
      ),
    ).toEqual([
      'b.yml:1: public_url: "http://broker.acme.example" is http:// on a non-loopback host: use https',
      'b.yml:5: trusted_proxies[1]: "proxy.internal" is not an address or CIDR range (e.g. 10.0.0.0/8, fd00::/8)',
      'b.yml:6: metrics_allow: must be a list of addresses or CIDR ranges (e.g. [10.0.0.0/8])',
    ]);
  });

  it('warns on rules without an id and on rules that let pull requests write', () => {
    const c = parseConfig(
      `${HEAD}projects:\n  - id: web\n    rules:\n      - { provider: github-actions, repository: acme/web, repository_id: "1" }\n      - { id: prs, provider: github-actions, repository: acme/web, repository_id: "1", event_name: [pull_request_target], grants: [build, "cache:read", "cache:write"] }\n`,
      'b.yml',
    );
    expect(c.warnings).toEqual([
      'b.yml:8: projects[0].rules[0]: rule web#0 has no id: give it one (id: <name>), since default ids shift when rules move and revocations and registry tokens name rules by id',
      `b.yml:9: projects[0].rules[1]: rule prs lets pull_request_target runs write the project cache and saved builds: code from a pull request or another person's trigger can poison what later builds reuse; grant [build, "cache:read"] unless you mean it`,
    ]);
  });

  it('reads the key lifetimes and the registry failure limit, with their defaults', () => {
    const d = parseConfig(HEAD, 'b.yml');
    expect([d.registrySignerTtl, d.keyRotation, d.rateLimit.registryFailuresPerAddress]).toEqual([
      86_400,
      30 * 86_400,
      300,
    ]);
    const c = parseConfig(
      `${HEAD}registry_signer_ttl: 6h\nkey_rotation: 7d\nrate_limit: { registry_failures_per_address: 50 }\n`,
      'b.yml',
    );
    expect([c.registrySignerTtl, c.keyRotation, c.rateLimit.registryFailuresPerAddress]).toEqual([
      6 * 3600,
      7 * 86_400,
      50,
    ]);
    expect(problems(`${HEAD}registry_signer_ttl: 5m\n`)).toEqual([
      'b.yml:5: registry_signer_ttl: 5m is shorter than 15m',
    ]);
  });
});
