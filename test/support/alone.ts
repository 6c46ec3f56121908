// A snippet in a process of its own, to see that it ends by itself: nothing it started (a worker thread, a timer)
// holds the process open once its work is done.
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';

/**
 * Runs `code` (an ES module; TypeScript imports load through tsx) in a new node process, and expects it to print
 * `done`, nothing on stderr, and exit 0 on its own within 20 s.
 */
export function expectEndsOnItsOwn(code: string): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe('done');
  expect(r.status).toBe(0);
}
