// vitest globalSetup (both configs, first): every temp dir of a run — the tests' own mkdtemp dirs and those of the
// processes they start, which inherit TMPDIR — goes under one dir that is removed when the run ends, so a run leaves
// nothing behind in the machine's /tmp whatever a test forgot to clean.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const dir = mkdtempSync(join(tmpdir(), 'depot-test-run-'));
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  };
}
