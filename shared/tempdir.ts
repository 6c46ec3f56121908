// One private temp dir per step for files that may hold secrets; the post step removes it.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function createTempDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'depot-'));
  chmodSync(dir, 0o700);
  return dir;
}

let counter = 0;

/** Writes `value` to a new 0600 file in `dir` and returns its path. */
export function writeSecretFile(dir: string, value: string): string {
  const file = join(dir, `secret-${process.pid}-${++counter}`);
  writeFileSync(file, value, { mode: 0o600 });
  return file;
}

export function removeTempDir(dir: string): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
