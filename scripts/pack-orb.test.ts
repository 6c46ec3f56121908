// The CircleCI orb's offline checks: its sources (integrations/circleci/src) pass yamllint and shellcheck, each
// component passes the CircleCI config schema (@circleci/circleci-config-parser) with its parameters replaced by typed
// dummies, and orb-tools' review rules hold (descriptions, named run steps, long commands in included scripts,
// snake_case names); the packed orb is the one `npm run pack:orb` writes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import parser from '@circleci/circleci-config-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { orbName, repositoryName } from '../shared/identity';
import {
  COMPONENT_KINDS,
  INSTALL_COPY,
  ORB_SRC,
  PACKED_ORB,
  inlineIncludes,
  orbObject,
  packOrb,
  packOrbText,
  readComponents,
} from './pack-orb';

const root = resolve(import.meta.dirname, '..');
const { Validator } = parser;
type Generable = Parameters<typeof Validator.validateGenerable>[0];

type Yaml = Record<string, unknown>;
interface Parameter {
  type?: string;
  description?: string;
  default?: unknown;
}

function tool(name: string, args: string[]) {
  const r = spawnSync(name, args, { cwd: root, encoding: 'utf8' });
  if (r.error)
    throw new Error(`${name} is not installed: run \`bash scripts/engine.sh tools\` (npm test does)`);
  return r;
}

function isRecord(v: unknown): v is Yaml {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function params(component: unknown): Record<string, Parameter> {
  return isRecord(component) && isRecord(component.parameters)
    ? (component.parameters as Record<string, Parameter>)
    : {};
}

function dummy(p: Parameter | undefined): unknown {
  switch (p?.type) {
    case 'boolean':
      return true;
    case 'integer':
      return 1;
    case 'steps':
      return [];
    case 'env_var_name':
      return 'DUMMY';
    case 'enum':
      return (p as { enum?: unknown[] }).enum?.[0];
    default:
      return 'dummy';
  }
}

/**
 * Replaces `<< parameters.x >>` (a whole value by a typed dummy, inside a string by text). Under `environment` every
 * value is its text, as CircleCI exports it (the schema takes strings and numbers only there).
 */
function withDummies(node: unknown, declared: Record<string, Parameter>, asText = false): unknown {
  if (typeof node === 'string') {
    const whole = /^<<\s*parameters\.([a-z0-9_]+)\s*>>$/.exec(node)?.[1];
    if (whole !== undefined) return asText ? String(dummy(declared[whole])) : dummy(declared[whole]);
    return node.replace(/<<\s*parameters\.([a-z0-9_]+)\s*>>/g, 'dummy');
  }
  if (Array.isArray(node)) return node.map((v) => withDummies(v, declared, asText));
  if (isRecord(node))
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, withDummies(v, declared, asText || k === 'environment')]),
    );
  return node;
}

/** Every `run` step of a component's steps, as objects. */
function runSteps(component: unknown): Yaml[] {
  if (!isRecord(component) || !Array.isArray(component.steps)) return [];
  return component.steps
    .filter((s): s is Yaml => isRecord(s) && 'run' in s)
    .map((s) => (isRecord(s.run) ? s.run : { command: s.run }));
}

const sources = Object.fromEntries(COMPONENT_KINDS.map((k) => [k, readComponents(ORB_SRC, k)])) as Record<
  (typeof COMPONENT_KINDS)[number],
  Map<string, unknown>
>;
const scripts = readdirSync(join(ORB_SRC, 'scripts')).sort();

describe('integrations/circleci/src', () => {
  it('passes yamllint (.yamllint.yml)', () => {
    const r = tool('yamllint', ['-c', '.yamllint.yml', '-f', 'parsable', 'integrations/circleci/src']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(scripts)('scripts/%s passes shellcheck', (name) => {
    const shell = name === 'install.sh' ? 'sh' : 'bash';
    const r = tool('shellcheck', [`--shell=${shell}`, '--severity=info', join(ORB_SRC, 'scripts', name)]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(scripts)('scripts/%s holds no `<<` (CircleCI would read it as a parameter)', (name) => {
    expect(readFileSync(join(ORB_SRC, 'scripts', name), 'utf8')).not.toContain('<<');
  });

  it('has the commands install, build and bake, the job build, an executor with Docker and 3 examples', () => {
    expect([...sources.commands.keys()]).toEqual(['bake', 'build', 'install']);
    expect([...sources.jobs.keys()]).toEqual(['build']);
    expect(sources.executors.size).toBeGreaterThanOrEqual(1);
    for (const executor of sources.executors.values())
      expect((executor as { machine?: { image?: string } }).machine?.image).toBeDefined();
    expect(sources.examples.size).toBeGreaterThanOrEqual(3);
  });

  it("@orb.yml: version 2.1, a description, display.home_url from package.json's repository", () => {
    const head = parse(readFileSync(join(ORB_SRC, '@orb.yml'), 'utf8')) as Yaml;
    expect(head.version).toBe(2.1);
    expect(typeof head.description).toBe('string');
    expect((head.display as Yaml).home_url).toBe(`https://github.com/${repositoryName()}`);
  });

  it('the install script is the copy of scripts/install.sh', () => {
    expect(readFileSync(INSTALL_COPY, 'utf8')).toBe(
      readFileSync(join(root, 'scripts', 'install.sh'), 'utf8'),
    );
  });

  it('the build command takes build-push’s flags in snake_case, and version/manifest_url/broker_url/… ', () => {
    expect(Object.keys(params(sources.commands.get('build')))).toEqual(
      expect.arrayContaining([
        'context',
        'file',
        'tags',
        'push',
        'platforms',
        'build_args',
        'target',
        'labels',
        'load',
        'provenance',
        'sbom',
        'no_cache',
        'pull',
        'secrets',
        'project',
        'broker_url',
        'oidc_audience',
        'buildx_fallback',
      ]),
    );
    expect(Object.keys(params(sources.commands.get('install')))).toEqual(
      expect.arrayContaining(['version', 'manifest_url']),
    );
    expect(Object.keys(params(sources.jobs.get('build')))).toEqual(
      expect.arrayContaining([
        'version',
        'manifest_url',
        ...Object.keys(params(sources.commands.get('build'))),
      ]),
    );
  });
});

describe('the CircleCI config schema (@circleci/circleci-config-parser)', () => {
  const cases: [string, Generable, unknown][] = [
    ...[...sources.commands].map(([n, c]): [string, Generable, unknown] => [
      `commands/${n}`,
      'reusable_command' as Generable,
      c,
    ]),
    ...[...sources.jobs].map(([n, c]): [string, Generable, unknown] => [`jobs/${n}`, 'job' as Generable, c]),
    ...[...sources.executors].map(([n, c]): [string, Generable, unknown] => [
      `executors/${n}`,
      'reusable_executor' as Generable,
      c,
    ]),
  ];

  it.each(cases)('%s is valid, parameters replaced by typed dummies', (_name, generable, component) => {
    const data = withDummies(inlineIncludes(component, ORB_SRC), params(component));
    const result = Validator.validateGenerable(generable, data);
    expect(result === true ? [] : result === false ? ['invalid'] : result.errors).toEqual([]);
  });

  it('refuses what it should: a run step with no command', () => {
    expect(
      Validator.validateGenerable('reusable_command' as Generable, { steps: [{ run: { nam: 'x' } }] }),
    ).not.toBe(true);
  });

  it.each([...sources.examples])(
    'examples/%s: a description and a config whose jobs are valid',
    (_name, example) => {
      const ex = example as Yaml;
      expect(typeof ex.description).toBe('string');
      const usage = ex.usage as Yaml;
      expect(usage.version).toBe(2.1);
      expect((usage.orbs as Yaml).depot).toMatch(new RegExp(`^${orbName()}@\\d+\\.\\d+\\.\\d+$`));
      expect(isRecord(usage.workflows)).toBe(true);
      for (const job of Object.values(isRecord(usage.jobs) ? usage.jobs : {})) {
        const result = Validator.validateGenerable('job' as Generable, job);
        expect(result === true ? [] : result === false ? ['invalid'] : result.errors).toEqual([]);
      }
    },
  );
});

describe("orb-tools' review rules", () => {
  const all = COMPONENT_KINDS.filter((k) => k !== 'examples').flatMap((kind) =>
    [...sources[kind]].map(([name, c]): [string, unknown] => [`${kind}/${name}`, c]),
  );

  it.each(all)('%s: a description, every parameter described, snake_case names', (name, component) => {
    expect(typeof (component as Yaml).description).toBe('string');
    expect(name.split('/')[1]).toMatch(/^[a-z][a-z0-9_]*$/);
    for (const [p, def] of Object.entries(params(component))) {
      expect(p).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(def.description, `${name} parameter ${p}`).toBeTruthy();
    }
  });

  it.each(all)(
    '%s: every run step has a name; a command over 3 lines lives in an included script',
    (name, c) => {
      for (const run of runSteps(c)) {
        expect(run.name, `${name} run step`).toBeTruthy();
        const command = String(run.command);
        if (!/^<<\s*include\(/.test(command))
          expect(command.split('\n').length, `${name}: ${command}`).toBeLessThanOrEqual(3);
      }
    },
  );
});

describe('npm run pack:orb', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pack-orb-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('the committed integrations/circleci/dist/orb.yml is fresh', () => {
    const files = packOrb();
    expect(readFileSync(PACKED_ORB, 'utf8')).toBe(files.get(PACKED_ORB));
  });

  it('merges every component and inlines every include', () => {
    const text = packOrbText();
    expect(text).not.toMatch(/<<\s*include\(/);
    const orb = parse(text) as Yaml;
    expect(Object.keys(orb.commands as Yaml).sort()).toEqual(['bake', 'build', 'install']);
    expect(Object.keys(orb.jobs as Yaml)).toEqual(['build']);
    const install = (orb.commands as Yaml).install as { steps: { run: { command: string } }[] };
    expect(install.steps[0]?.run.command).toBe(readFileSync(join(root, 'scripts', 'install.sh'), 'utf8'));
    expect(orb).toEqual(orbObject());
  });

  it('names the component and the file of a missing include', () => {
    writeFileSync(join(tmp, 'x.yml'), 'steps: []\n');
    expect(() => inlineIncludes({ command: '<<include(scripts/nope.sh)>>' }, tmp, 'commands/x.yml')).toThrow(
      /commands\/x\.yml\.command: cannot read .*nope\.sh/,
    );
    expect(() => inlineIncludes('<<include(../x.sh)>>', tmp, 'jobs/y.yml')).toThrow(/outside/);
  });
});
