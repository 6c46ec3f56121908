// Adds up vitest JSON reports. `tsx scripts/report.ts DIR` names each failed test, one line each, then prints
// `N passed, N failed` as its last line: a CI log cut to its tail still says which tests failed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Totals {
  passed: number;
  failed: number;
}

interface VitestAssertion {
  fullName?: string;
  status?: string;
  failureMessages?: string[];
}

interface VitestFile {
  name?: string;
  status?: string;
  message?: string;
  assertionResults?: VitestAssertion[];
}

interface VitestJsonReport {
  numPassedTests?: number;
  numFailedTests?: number;
  testResults?: VitestFile[];
}

function reports(dir: string): { name: string; report: VitestJsonReport }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((name) => ({ name, report: JSON.parse(readFileSync(join(dir, name), 'utf8')) as VitestJsonReport }));
}

export function summarize(dir: string): Totals {
  const totals: Totals = { passed: 0, failed: 0 };
  for (const { report } of reports(dir)) {
    totals.passed += report.numPassedTests ?? 0;
    // A file that failed to load (or whose hook failed) has no failed test to count: it counts as one failure, so
    // it is not lost, also when another file's tests failed in the same run.
    const filesWithoutAFailedTest = (report.testResults ?? []).filter(
      (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
    ).length;
    totals.failed += (report.numFailedTests ?? 0) + filesWithoutAFailedTest;
  }
  return totals;
}

/** The first line of an error, cut to a line's width: what failed, not its stack. */
function firstLine(text: string | undefined): string {
  const line = (text ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
  const trimmed = line.trim();
  return trimmed.length > 160 ? `${trimmed.slice(0, 159)}…` : trimmed;
}

/**
 * One line per failed test, `FAILED (report) file > test: first line of its error`, and one per file that failed
 * without a failed test (it did not load, or a hook failed).
 */
export function failures(dir: string, root = process.cwd()): string[] {
  const lines: string[] = [];
  for (const { name, report } of reports(dir)) {
    for (const file of report.testResults ?? []) {
      const path = file.name ? relative(root, file.name) : '(unnamed file)';
      const failed = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
      for (const a of failed) {
        const why = firstLine(a.failureMessages?.[0]);
        lines.push(`FAILED (${name}) ${path} > ${a.fullName ?? '(unnamed test)'}${why ? `: ${why}` : ''}`);
      }
      if (failed.length === 0 && file.status === 'failed') {
        const why = firstLine(file.message);
        lines.push(`FAILED (${name}) ${path}${why ? `: ${why}` : ''}`);
      }
    }
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? '.tmp/reports';
  for (const line of failures(dir)) console.log(line);
  const t = summarize(dir);
  console.log(`${t.passed} passed, ${t.failed} failed`);
}
