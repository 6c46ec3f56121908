import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failures, summarize } from './report';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'report-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the real vitest over `files` (written to a project of their own) and returns the dir its JSON report is in. */
function vitestReport(files: Record<string, string>): string {
  const project = mkdtempSync(join(work, 'project-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(project, name), text);
  const reports = join(project, 'reports');
  mkdirSync(reports);
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--root',
      project,
      '--globals',
      '--reporter=json',
      `--outputFile.json=${join(reports, 'unit.json')}`,
    ],
    { cwd: project, encoding: 'utf8', env: { ...process.env, CI: 'true' } },
  );
  expect(r.status, r.stderr).toBe(1); // each project below has a failure
  return reports;
}

describe('scripts/report.ts', () => {
  it('names each failed test and each file that did not load, and counts them', () => {
    const reports = vitestReport({
      'keys.test.ts': [
        "it('holds one key', () => { expect(1 + 1).toBe(2); });",
        "describe('a drop', () => { it('drops the gone key', () => { expect(2).toBe(1); }); });",
      ].join('\n'),
      'broken.test.ts': "throw new Error('this file does not load');\n",
    });
    expect(failures(reports, join(reports, '..')).sort()).toEqual([
      'FAILED (unit.json) broken.test.ts: this file does not load',
      'FAILED (unit.json) keys.test.ts > a drop drops the gone key: AssertionError: expected 2 to be 1 // Object.is equality',
    ]);
    expect(summarize(reports)).toEqual({ passed: 1, failed: 2 });
  }, 60_000);

  it('prints the failed tests, then `N passed, N failed` as its last line', () => {
    const reports = vitestReport({
      'a.test.ts': "it('passes', () => {});\nit('fails', () => { throw new Error('no\\nsecond line'); });\n",
    });
    const r = spawnSync(
      join(root, 'node_modules', '.bin', 'tsx'),
      [join(root, 'scripts', 'report.ts'), reports],
      { cwd: join(reports, '..'), encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      'FAILED (unit.json) a.test.ts > fails: Error: no',
      '1 passed, 1 failed',
    ]);
  }, 60_000);

  it('a dir with no report: 0 passed, 0 failed, and nothing named', () => {
    expect(failures(join(work, 'none'))).toEqual([]);
    expect(summarize(join(work, 'none'))).toEqual({ passed: 0, failed: 0 });
  });
});
