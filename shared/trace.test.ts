// DEPOT_TRACE: spans as JSON lines when set, nothing written when not, and a span's throw passes through.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readTrace, TRACE_ENV, traced, traceProc } from './trace';

const dirs: string[] = [];
afterEach(() => {
  delete process.env[TRACE_ENV];
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('traced', () => {
  it('appends one span per call when DEPOT_TRACE names a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-'));
    dirs.push(dir);
    const file = join(dir, 'trace.jsonl');
    process.env[TRACE_ENV] = file;
    traceProc('test main');
    expect(await traced('work', () => Promise.resolve(42))).toBe(42);
    await expect(traced('fails', () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    const spans = readTrace(readFileSync(file, 'utf8'));
    expect(spans.map((s) => [s.proc, s.name])).toEqual([
      ['test main', 'work'],
      ['test main', 'fails'],
    ]);
    for (const s of spans) expect(s.end).toBeGreaterThanOrEqual(s.start);
  });

  it('writes nothing and returns the value when DEPOT_TRACE is unset', async () => {
    expect(await traced('work', () => Promise.resolve('v'))).toBe('v');
  });

  it('reads only span lines', () => {
    expect(readTrace('not json\n{"name":"a","start":1,"end":2,"proc":"p","pid":1}\n{"x":1}\n')).toHaveLength(
      1,
    );
  });
});
