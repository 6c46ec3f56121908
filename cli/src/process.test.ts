// The CLI's process layer over shared/exec: exit statuses (128 + N for signal N), captured stdout, a missing
// command as one line saying what to install, and, in a real child Node process, SIGTERM/SIGINT forwarded to the
// running child or, with none running, the cleanups run and the 128 + N exit.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from './errors';
import { run } from './process';

describe('run', () => {
  it('returns the exit status and the captured stdout', async () => {
    const r = await run('sh', ['-c', 'echo out; exit 3'], { capture: true });
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out\n' });
  });

  it('gives 128 + N for a child killed by signal N', async () => {
    const r = await run('sh', ['-c', 'kill -KILL $$'], { capture: true });
    expect(r).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('says what to install when the command is missing, in one line', async () => {
    const err: unknown = await run('depot-no-such-command', []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(
      'depot-no-such-command is not installed or not on PATH: install Docker Engine with the buildx plugin (docker-buildx).',
    );
    await expect(run('depot-no-such-command', [], { notFound: 'gone: reinstall.' })).rejects.toThrow(
      /^gone: reinstall\.$/,
    );
  });
});

/** A Node process running `script` (TypeScript, through tsx) that is sent `signal` once it prints "started". */
function signalled(
  script: string,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; stdout: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'depot-process-'));
  const file = join(dir, 'script.mts');
  writeFileSync(
    file,
    script.replaceAll('PROCESS', resolve(import.meta.dirname, 'process.ts')).replaceAll('DIR', dir),
  );
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: import.meta.dirname,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (d.includes('started')) child.kill(signal);
    });
    child.on('close', (code) => done({ code, stdout, dir }));
  });
}

describe('signals (in a child Node process)', () => {
  it.each([
    ['SIGTERM', 'TERM'],
    ['SIGINT', 'INT'],
  ] as const)('forwards %s to the running child and returns its status', async (signal, trap) => {
    const r = await signalled(
      `import { installSignalHandlers, run } from 'PROCESS';
installSignalHandlers();
const sh = 'sleep 30 >/dev/null 2>&1 & trap "kill $!; echo child got ${trap}; exit 7" ${trap}; echo started; wait';
const r = await run('sh', ['-c', sh]);
process.exitCode = r.exitCode;
`,
      signal,
    );
    expect(r.stdout).toContain(`child got ${trap}`);
    expect(r.code).toBe(7);
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('on %s with no child running, runs the cleanups and exits %i', async (signal, status) => {
    const r = await signalled(
      `import { writeFileSync } from 'node:fs';
import { installSignalHandlers, onCleanup } from 'PROCESS';
installSignalHandlers();
onCleanup(() => writeFileSync('DIR/cleaned', 'yes'));
console.log('started');
setTimeout(() => {}, 30_000);
`,
      signal,
    );
    expect(r.code).toBe(status);
    expect(existsSync(join(r.dir, 'cleaned')) && readFileSync(join(r.dir, 'cleaned'), 'utf8')).toBe('yes');
  });
});
