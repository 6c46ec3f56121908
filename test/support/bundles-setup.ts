// vitest globalSetup (both configs): one dir of fresh bundles per vitest run, shared by its test files (bundles.ts
// builds each bundle there once, when a test first needs it), removed at the end. Nothing when dist is checked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLES_ENV, distChecked } from './bundles';

export default function setup(): (() => void) | undefined {
  if (distChecked() || process.env[BUNDLES_ENV]) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'depot-bundles-'));
  process.env[BUNDLES_ENV] = dir;
  return () => {
    rmSync(dir, { recursive: true, force: true });
    delete process.env[BUNDLES_ENV];
  };
}
