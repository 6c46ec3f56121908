import { describe, expect, it } from 'vitest';
import { blocking, formatFinding, parseCheckOutput } from './lint';

// What `docker buildx build --call check,format=json` printed for a Dockerfile with a casing problem (buildx 0.29).
const CHECK = JSON.stringify({
  warnings: [
    {
      ruleName: 'FromAsCasing',
      description: "The 'as' keyword should match the case of the 'from' keyword",
      detail: "'AS' and 'from' keywords' casing do not match",
      location: { ranges: [{ start: { line: 3 }, end: { line: 3 } }] },
    },
  ],
  sources: [],
});

describe('lint', () => {
  it('reads check warnings with rule and line', () => {
    const f = parseCheckOutput(CHECK, 1, 'Dockerfile');
    expect(f.map(formatFinding)).toEqual([
      "lint warn: FromAsCasing: 'AS' and 'from' keywords' casing do not match (Dockerfile:3)",
    ]);
  });

  it('treats a check that could not run as an error', () => {
    expect(parseCheckOutput('', 1)[0]?.level).toBe('error');
    expect(parseCheckOutput('{}', 0)).toEqual([]);
  });

  it.each([
    ['error', 0],
    ['warn', 1],
    ['info', 1],
    ['none', 0],
  ] as const)('--lint-fail-on %s stops on %i warning(s)', (level, n) => {
    expect(blocking(parseCheckOutput(CHECK, 1), level)).toHaveLength(n);
  });

  it('--lint-fail-on error stops on an error', () => {
    expect(blocking(parseCheckOutput('', 1), 'error')).toHaveLength(1);
    expect(blocking(parseCheckOutput('', 1), 'none')).toHaveLength(0);
  });
});
