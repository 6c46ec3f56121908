// Timing spans for `npm run bench`: with DEPOT_TRACE set to a file, the actions and the CLI append one JSON line per
// span, {proc, pid, name, start, end} in ms since the epoch, so the bench can say where a run's time went. Off (the
// variable unset, as in every real job) each call costs one property read. A span never changes what it wraps: a
// write that fails is ignored, and a span's own throw passes through after it is recorded.
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export const TRACE_ENV = 'DEPOT_TRACE';

export interface TraceSpan {
  /** Who wrote it: `build-push main`, `build-push post`, `setup main`, `cli build` ... */
  proc: string;
  pid: number;
  name: string;
  /** ms since the epoch, fractional. */
  start: number;
  end: number;
}

let proc = 'node';

/** Names the process in its spans (set once, where the process knows what it is). */
export function traceProc(name: string): void {
  proc = name;
}

export function traceOn(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!env[TRACE_ENV];
}

/** Now, in ms since the epoch, to the microsecond. */
export function traceNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Records a span that ran from `start` to `end` (default now). */
export function traceRecord(name: string, start: number, end = traceNow()): void {
  const file = process.env[TRACE_ENV];
  if (!file) return;
  const span: TraceSpan = { proc, pid: process.pid, name, start, end };
  try {
    appendFileSync(file, `${JSON.stringify(span)}\n`);
  } catch {
    // a trace never fails the step
  }
}

/** Records how long Node took from the process's start to this call (Node's own start plus loading the bundle). */
export function traceStartup(): void {
  if (process.env[TRACE_ENV]) traceRecord('node start + bundle load', performance.timeOrigin);
}

/** Runs `fn` and records its span, whether it resolves or throws. */
export async function traced<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (!process.env[TRACE_ENV]) return fn();
  const start = traceNow();
  try {
    return await fn();
  } finally {
    traceRecord(name, start);
  }
}

/** The spans of a trace file (lines that are not spans are skipped). */
export function readTrace(text: string): TraceSpan[] {
  const spans: TraceSpan[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const s = JSON.parse(line) as Partial<TraceSpan>;
      if (typeof s.name === 'string' && typeof s.start === 'number' && typeof s.end === 'number')
        spans.push(s as TraceSpan);
    } catch {
      continue;
    }
  }
  return spans;
}
