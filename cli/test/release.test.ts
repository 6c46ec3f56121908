import { describe, expect, it } from 'vitest';
import { mergeManifest } from '../../scripts/release-cli';

const b = (v: string) => ({ 'linux-x64': { url: `depot-${v}-linux-x64.tar.gz`, sha256: 'a'.repeat(64) } });

describe('mergeManifest', () => {
  it('keeps earlier versions so old pins resolve, and makes the highest stable version latest', () => {
    const prev = { latest: '0.2.0', versions: { '0.2.0': b('0.2.0'), '0.1.0': b('0.1.0') } };
    const m = mergeManifest(prev, '0.3.0-rc.1', b('0.3.0-rc.1'));
    expect(Object.keys(m.versions)).toEqual(['0.3.0-rc.1', '0.2.0', '0.1.0']);
    expect(m.latest).toBe('0.2.0');
    expect(mergeManifest(m, '0.3.0', b('0.3.0')).latest).toBe('0.3.0');
  });

  it('replaces a re-released version rather than duplicating it', () => {
    const prev = { latest: '0.1.0', versions: { '0.1.0': b('old') } };
    expect(mergeManifest(prev, '0.1.0', b('0.1.0')).versions['0.1.0']).toEqual(b('0.1.0'));
  });
});
