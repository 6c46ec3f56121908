// The GitLab CI/CD component: its template's shape and inputs, the inline install step kept equal to
// scripts/install.sh, the released component project (README inputs table = spec:inputs), yamllint, and the job
// gitlab-ci-local 4.73.0 `--preview` expands from examples/gitlab/.gitlab-ci.yml.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { gitlabComponentPath } from '../shared/identity';
import { EXAMPLE, hostScript, previewJob } from '../test/support/gitlab-runner';
import { installStep, releaseGitlab, syncInstallStep, TEMPLATES, templateInputs } from './release-gitlab';

const root = resolve(import.meta.dirname, '..');
const TEMPLATE = join(TEMPLATES, 'build.yml');
const template = readFileSync(TEMPLATE, 'utf8');
const installSh = readFileSync(join(root, 'scripts', 'install.sh'), 'utf8');
const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('integrations/gitlab/templates/build.yml', () => {
  it('opens with spec:, then ---', () => {
    expect(template.startsWith('spec:\n')).toBe(true);
    expect(template).toMatch(/\n---\n/);
  });

  it('has every input, each with a default; push and buildx-fallback are booleans', () => {
    const inputs = templateInputs(TEMPLATE);
    expect(Object.keys(inputs).sort()).toEqual(
      [
        'project',
        'context',
        'file',
        'platforms',
        'tags',
        'push',
        'build-args',
        'target',
        'buildx-fallback',
        'stage',
        'job-prefix',
        'cli-version',
        'manifest-url',
        'image',
        'broker-url',
        'oidc-audience',
      ].sort(),
    );
    for (const [name, spec] of Object.entries(inputs)) expect(spec.default, name).toBeDefined();
    expect(inputs.push).toMatchObject({ type: 'boolean', default: false });
    expect(inputs['buildx-fallback']).toMatchObject({ type: 'boolean', default: false });
    expect(inputs.stage?.default).toBe('build');
    expect(inputs['broker-url']?.default).toBe('$DEPOT_BROKER_URL');
    expect(inputs['oidc-audience']?.default).toBe('$DEPOT_BROKER_URL');
    expect(inputs.image?.default).toMatch(/^docker:\d+-cli$/);
  });

  it('holds the inline install step scripts/release-gitlab.ts makes from scripts/install.sh', () => {
    expect(template, 'stale: run `npm run release:gitlab -- --sync`').toBe(syncInstallStep(template));
    expect(installStep('    ').join('\n')).toContain(installSh.split('\n').slice(0, 5).join('\n      '));
  });

  it('a changed install.sh makes the template stale', () => {
    const drifted = template.replace('DEFAULT_REPOSITORY=', 'DEFAULT_REPOSITORY=x');
    expect(drifted).not.toBe(template);
    expect(syncInstallStep(drifted)).toBe(template);
  });
});

describe('gitlab-ci-local --preview of examples/gitlab/.gitlab-ci.yml', () => {
  it('includes the component at the path of package.json', () => {
    const example = parse(readFileSync(EXAMPLE, 'utf8')) as { include: Array<{ component: string }> };
    expect(example.include[0]?.component).toBe(`${gitlabComponentPath()}/build@~latest`);
  });

  it("is the config the README's GitLab CI/CD component section shows", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## GitLab CI/CD component'), readme.indexOf('## Actions'));
    const body = readFileSync(EXAMPLE, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n')
      .trim();
    expect(section).toContain(`\`\`\`yaml\n${body}\n\`\`\``);
    expect(section).toContain(gitlabComponentPath());
  });

  it('expands the job: image, dind service, id_tokens audience, script lines with the inputs', () => {
    const { project, job } = previewJob();
    temps.push(project);
    expect(job.name).toBe('depot-build');
    expect(job.stage).toBe('build');
    expect(job.image).toEqual({ name: 'docker:28-cli' });
    expect(job.services).toEqual([{ name: 'docker:28-dind', alias: 'docker' }]);
    expect(job.id_tokens).toEqual({ DEPOT_OIDC_TOKEN: { aud: '$DEPOT_BROKER_URL' } });
    expect(job.script[0]).toBe('if command -v apk >/dev/null; then apk add --no-cache nodejs; fi');
    // The install step is install.sh itself, written whole by a quoted heredoc.
    expect(job.script[1]).toBe(
      `cat >"\${TMPDIR:-/tmp}/depot-install.sh" <<'DEPOT_INSTALL_SH'\n${installSh}DEPOT_INSTALL_SH\n`,
    );
    expect(job.script[2]).toBe(
      'DEPOT_VERSION="latest" DEPOT_MANIFEST_URL="" sh "${TMPDIR:-/tmp}/depot-install.sh" --dir "$CI_PROJECT_DIR/.depot"',
    );
    expect(job.script[3]).toBe(
      'export PATH="$CI_PROJECT_DIR/.depot/bin:$PATH" DEPOT_BROKER_URL="$DEPOT_BROKER_URL" DEPOT_OIDC_AUDIENCE="$DEPOT_BROKER_URL"',
    );
    const build = job.script[4] ?? '';
    expect(build).toContain('platforms="linux/amd64,linux/arm64"');
    expect(build).toContain(
      `printf '%s' "registry.example.com/acme/web:latest,registry.example.com/acme/web:$CI_COMMIT_SHORT_SHA"`,
    );
    expect(build).toContain('<<DEPOT_BUILD_ARGS\nNODE_ENV=production\nAPP_VERSION=1.2.3\n');
    expect(build).toContain('[ "true" != true ] || set -- "$@" --push');
    expect(build).toContain('set -- "$@" "."');
    expect(build).toContain('[ "false" = true ]');
    expect(hostScript(job)).toEqual(job.script.slice(1));
  });

  it('substitutes every other input', () => {
    const { project, job } = previewJob({
      project: 'web',
      context: 'app',
      file: 'app/Dockerfile.prod',
      target: 'runtime',
      'buildx-fallback': true,
      stage: 'test',
      'job-prefix': 'web-',
      'cli-version': '1.2.3',
      'manifest-url': 'https://releases.example.com/depot/manifest.json',
      image: 'docker:27-cli',
      'broker-url': 'https://broker.example.com',
      'oidc-audience': 'depot',
    });
    temps.push(project);
    expect(job.name).toBe('web-build');
    expect(job.stage).toBe('test');
    expect(job.image).toEqual({ name: 'docker:27-cli' });
    expect(job.id_tokens).toEqual({ DEPOT_OIDC_TOKEN: { aud: 'depot' } });
    expect(job.script[2]).toContain(
      'DEPOT_VERSION="1.2.3" DEPOT_MANIFEST_URL="https://releases.example.com/depot/manifest.json"',
    );
    expect(job.script[3]).toContain(
      'DEPOT_BROKER_URL="https://broker.example.com" DEPOT_OIDC_AUDIENCE="depot"',
    );
    const build = job.script[4] ?? '';
    expect(build).toContain('file="app/Dockerfile.prod"; platforms=""; target="runtime"');
    expect(build).toContain('project="web"');
    expect(build).toContain('set -- "$@" "app"');
    expect(build).toContain('[ "false" != true ] || set -- "$@" --push');
    expect(build).toContain('[ "true" = true ]');
  });

  it('refuses a boolean input given a string', () => {
    expect(() => previewJob({ push: 'yes' })).toThrow(/push.*boolean|not a boolean/s);
  });
});

describe('npm run release:gitlab', () => {
  const out = mkdtempSync(join(tmpdir(), 'depot-gitlab-release-'));
  temps.push(out);
  releaseGitlab(out);

  it('writes templates/, README.md, LICENSE and a .gitlab-ci.yml', () => {
    expect(readFileSync(join(out, 'templates', 'build.yml'), 'utf8')).toBe(template);
    expect(readFileSync(join(out, 'LICENSE'), 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
    expect(existsSync(join(out, 'README.md'))).toBe(true);
  });

  it("README's inputs table is spec:inputs, and its example includes the component by package.json's path", () => {
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    const rows = readme
      .split('\n')
      .filter((l) => /^\| `/.test(l))
      .map((l) => l.split(' | ').map((c) => c.replace(/^\| /, '').replace(/ \|$/, '')));
    const inputs = templateInputs(TEMPLATE);
    expect(rows.map((r) => r[0])).toEqual(Object.keys(inputs).map((k) => `\`${k}\``));
    for (const [name, type, def] of rows) {
      const spec = inputs[(name ?? '').replace(/`/g, '')];
      expect(type).toBe(spec?.type ?? 'string');
      expect(def).toBe(`\`${JSON.stringify(spec?.default)}\``);
    }
    expect(readme).toContain(`  - component: ${gitlabComponentPath()}/build@~latest`);
    expect(readme).toContain('gitlab-ci-local --preview');
  });

  it('its .gitlab-ci.yml includes the component at $CI_COMMIT_SHA', () => {
    const ci = parse(readFileSync(join(out, '.gitlab-ci.yml'), 'utf8')) as {
      include: Array<{ component: string }>;
    };
    expect(ci.include[0]?.component).toBe('$CI_SERVER_FQDN/$CI_PROJECT_PATH/build@$CI_COMMIT_SHA');
  });

  it('refuses a stale template', () => {
    expect(syncInstallStep(template)).toBe(template);
  });
});

describe('yamllint', () => {
  it('passes over integrations/gitlab and examples/gitlab', () => {
    const r = spawnSync(
      'yamllint',
      ['-c', '.yamllint.yml', '-f', 'parsable', 'integrations/gitlab', 'examples/gitlab'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
