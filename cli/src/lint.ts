// `--lint`: buildx's build checks (`--call check,format=json`) before the build. Check findings are warnings; a
// Dockerfile that cannot even be checked is an error. `--lint-fail-on` (depot's values) decides what stops the build.
import type { LintFailOn } from '../../shared/contract/cli';

export type LintLevel = 'error' | 'warn' | 'info';

export interface LintFinding {
  level: LintLevel;
  rule: string;
  message: string;
  where?: string;
}

const RANK: Record<LintLevel, number> = { error: 3, warn: 2, info: 1 };
const THRESHOLD: Record<LintFailOn, number> = { error: 3, warn: 2, info: 1, none: Infinity };

export function parseCheckOutput(stdout: string, exitCode: number, file = 'Dockerfile'): LintFinding[] {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    return exitCode === 0
      ? []
      : [
          {
            level: 'error',
            rule: 'check',
            message: `the build checks could not run (exit ${exitCode}): see buildx's error above`,
          },
        ];
  }
  const findings: LintFinding[] = [];
  const obj = json !== null && typeof json === 'object' ? (json as Record<string, unknown>) : {};
  const warnings = Array.isArray(obj.warnings) ? obj.warnings : [];
  for (const w of warnings) {
    if (w === null || typeof w !== 'object') continue;
    const rec = w as Record<string, unknown>;
    const line = lineOf(rec.location);
    const finding: LintFinding = {
      level: 'warn',
      rule: typeof rec.ruleName === 'string' ? rec.ruleName : 'check',
      message: typeof rec.detail === 'string' ? rec.detail : String(rec.description ?? ''),
    };
    if (line) finding.where = `${file}:${line}`;
    findings.push(finding);
  }
  if (obj.error !== undefined && obj.error !== null) {
    findings.push({ level: 'error', rule: 'check', message: JSON.stringify(obj.error) });
  }
  return findings;
}

function lineOf(location: unknown): number | undefined {
  if (location === null || typeof location !== 'object') return undefined;
  const ranges = (location as Record<string, unknown>).ranges;
  if (!Array.isArray(ranges)) return undefined;
  const first: unknown = ranges[0];
  if (first === null || typeof first !== 'object') return undefined;
  const start = (first as Record<string, unknown>).start;
  if (start === null || typeof start !== 'object') return undefined;
  const line = (start as Record<string, unknown>).line;
  return typeof line === 'number' ? line : undefined;
}

/** The findings that stop the build under `failOn`. */
export function blocking(findings: readonly LintFinding[], failOn: LintFailOn): LintFinding[] {
  return findings.filter((f) => RANK[f.level] >= THRESHOLD[failOn]);
}

export function formatFinding(f: LintFinding): string {
  return `lint ${f.level}: ${f.rule}: ${f.message}${f.where ? ` (${f.where})` : ''}`;
}
