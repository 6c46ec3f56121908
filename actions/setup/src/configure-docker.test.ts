// configure-docker runs the installed CLI (here a real script in bin/) and turns its failure into one line.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../../shared/errors';
import { configureDocker } from './configure-docker';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'setup-configure-'));
  mkdirSync(join(dir, 'bin'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function installCli(script: string) {
  writeFileSync(join(dir, 'bin', 'depot'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return { version: '1.2.0', dir, bin: join(dir, 'bin'), fromCache: false };
}

const quiet = () => ({ stdout: new PassThrough(), stderr: new PassThrough() });

describe('configureDocker', () => {
  it('runs `depot configure-docker` from the installed bin with the job env', async () => {
    const installed = installCli('echo "$@" > "$DOCKER_CONFIG/args"');
    await configureDocker(installed, { ...quiet(), env: { ...process.env, DOCKER_CONFIG: dir } });
    expect(readFileSync(join(dir, 'args'), 'utf8')).toBe('configure-docker\n');
  });

  it('a failing CLI fails the step with its last stderr line', async () => {
    const installed = installCli(
      'echo "checking buildx" >&2; echo "docker buildx not found: install docker first" >&2; exit 3',
    );
    await expect(configureDocker(installed, quiet())).rejects.toThrow(
      new UserError('depot configure-docker failed with: docker buildx not found: install docker first'),
    );
  });

  it('a CLI that is not there says the install is broken', async () => {
    const installed = { version: '1.2.0', dir, bin: join(dir, 'bin'), fromCache: true };
    await expect(configureDocker(installed, quiet())).rejects.toThrow(
      `${join(dir, 'bin', 'depot')} cannot be run: the installed depot 1.2.0 is broken.`,
    );
  });
});
