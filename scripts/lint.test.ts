// The linters of what is neither TypeScript nor Markdown: shellcheck over scripts/install.sh (the one install script
// the orb, the GitLab component and Buildkite's example take their install step from) as POSIX sh, over the other
// scripts/*.sh and .ci/run as bash, and yamllint over the repository's YAML. `npm test` installs both first (scripts/engine.sh tools).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryName } from '../shared/identity';

const root = resolve(import.meta.dirname, '..');

function tool(name: string, args: string[]) {
  const r = spawnSync(name, args, { cwd: root, encoding: 'utf8' });
  if (r.error)
    throw new Error(`${name} is not installed: run \`bash scripts/engine.sh tools\` (npm test does)`);
  return r;
}

describe('scripts/install.sh', () => {
  it('passes shellcheck as POSIX sh', () => {
    const r = tool('shellcheck', ['--shell=sh', '--severity=info', 'scripts/install.sh']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it("installs from this repository's releases by default (package.json repository)", () => {
    const script = readFileSync(join(root, 'scripts', 'install.sh'), 'utf8');
    expect(/^DEFAULT_REPOSITORY=(\S+)$/m.exec(script)?.[1]).toBe(repositoryName());
  });
});

describe('the bash scripts', () => {
  // The engine, PostgreSQL, nginx and Debian base installers and the CI entry point: run as root on a fresh machine.
  const scripts = [
    ...readdirSync(join(root, 'scripts'))
      .filter((f) => f.endsWith('.sh') && f !== 'install.sh')
      .map((f) => `scripts/${f}`),
    ...readdirSync(join(root, 'scripts', 'lib')).map((f) => `scripts/lib/${f}`),
    '.ci/run',
  ];
  it.each(scripts)('%s passes shellcheck', (script) => {
    // -x: follows what a script sources (scripts/lib/apt.sh), from the repository root.
    const r = tool('shellcheck', ['--shell=bash', '--severity=info', '-x', script]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe("the repository's YAML", () => {
  it('passes yamllint (.yamllint.yml)', () => {
    const r = tool('yamllint', ['-c', '.yamllint.yml', '-f', 'parsable', '.']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
