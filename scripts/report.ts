// Adds up vitest JSON reports. `tsx scripts/report.ts DIR` prints `N passed, N failed`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Totals {
  passed: number;
  failed: number;
}

interface VitestJsonReport {
  numPassedTests?: number;
  numFailedTests?: number;
  numFailedTestSuites?: number;
}

export function summarize(dir: string): Totals {
  const totals: Totals = { passed: 0, failed: 0 };
  if (!existsSync(dir)) return totals;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const report = JSON.parse(readFileSync(join(dir, name), 'utf8')) as VitestJsonReport;
    totals.passed += report.numPassedTests ?? 0;
    // A file that failed to load has no tests to count: count it as one failure so it is not lost.
    totals.failed +=
      (report.numFailedTests ?? 0) + (report.numFailedTests ? 0 : (report.numFailedTestSuites ?? 0));
  }
  return totals;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t = summarize(process.argv[2] ?? '.tmp/reports');
  console.log(`${t.passed} passed, ${t.failed} failed`);
}
