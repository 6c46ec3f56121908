import { describe, expect, it } from 'vitest';
import { gathered, NOT_BUILT, parsePlan } from './gather';
import { fromMetadata, historyFields } from './record';
import type { LegRecord } from './record';

const DIGEST = `sha256:${'e'.repeat(64)}`;

describe('fromMetadata', () => {
  it('reads build-push metadata, and a bake map by target (or its only target)', () => {
    const single = { 'containerimage.digest': DIGEST, 'buildx.build.ref': 'default/default/abc' };
    expect(fromMetadata(JSON.stringify(single), '')).toEqual({ digest: DIGEST, ref: 'default/default/abc' });
    const bake = { api: { 'containerimage.digest': 'sha256:1' }, web: { 'containerimage.digest': DIGEST } };
    expect(fromMetadata(JSON.stringify(bake), 'web').digest).toBe(DIGEST);
    expect(fromMetadata(JSON.stringify({ web: { 'containerimage.digest': DIGEST } }), '').digest).toBe(
      DIGEST,
    );
    expect(fromMetadata('', 'web')).toEqual({ digest: '', ref: '' });
    expect(fromMetadata('[1]', '')).toEqual({ digest: '', ref: '' });
  });
});

describe('historyFields', () => {
  it('reads `docker buildx history inspect --format json` as buildx 0.29.1 prints it', () => {
    // Trimmed from a real record of examples/demo/app.
    const printed = {
      Name: 'examples/demo/app',
      Ref: 'wrdg17aspp8xbsitnnwtd87xh',
      Duration: 319202029,
      Status: 'completed',
      NumCompletedSteps: 11,
      NumTotalSteps: 11,
      NumCachedSteps: 3,
    };
    expect(historyFields(printed)).toEqual({ duration: '0.3 s', cached: '3/11' });
    expect(historyFields({ Status: 'running' })).toEqual({ duration: '-', cached: '-' });
  });
});

describe('gather', () => {
  const record = (name: string, digest: string): LegRecord => ({
    name,
    target: '',
    digest,
    ref: '',
    duration: '2.0 s',
    cached: '4/6',
  });

  it('maps digests and built names in the plan’s order; a planned image without a record is not built', () => {
    const planned = parsePlan(
      JSON.stringify({
        include: [
          { name: 'web', reason: 'a changed', context: '.' },
          { name: 'api', reason: 'b changed' },
          { name: 'worker', reason: 'c changed' },
        ],
      }),
    );
    const records = new Map([
      ['worker', record('worker', DIGEST)],
      ['web', record('web', '')],
    ]);
    const g = gathered(planned, records);
    expect(g.digests).toEqual({ worker: DIGEST });
    expect(g.built).toEqual(['web', 'worker']);
    expect(g.table.tables?.[0]?.rows).toEqual([
      ['web', 'a changed', '-', '2.0 s', '4/6'],
      ['api', 'b changed', NOT_BUILT, '-', '-'],
      ['worker', 'c changed', DIGEST, '2.0 s', '4/6'],
    ]);
  });

  it('an empty plan (or none) gathers nothing', () => {
    expect(parsePlan('')).toEqual([]);
    expect(parsePlan('{"include":[]}')).toEqual([]);
    const g = gathered([], new Map());
    expect([g.digests, g.built, g.table.tables]).toEqual([{}, [], []]);
    expect(() => parsePlan('{"include": [{"reason": "no name"}]}')).toThrow(
      'Input `plan` is not a matrix ({"include": [...]}): pass the plan job\'s `matrix` output.',
    );
  });
});
