import { describe, expect, it } from 'vitest';
import { isolatedCell, renderSummary } from './summary';

describe('isolatedCell', () => {
  it('says why a fork build is isolated', () => {
    const fork = {
      kind: 'token',
      token: 't',
      source: 'fork-claim',
      isolated: true,
      isolation: 'pull request #12 from fork mallory/web',
    } as const;
    expect(isolatedCell(fork)).toBe(
      'yes: pull request #12 from fork mallory/web; the project cache is neither read nor written',
    );
    expect(
      renderSummary({ heading: 'Depot build', rows: [['Isolated', isolatedCell(fork, true)]] }),
    ).toContain(
      '| Isolated | yes: pull request #12 from fork mallory/web; the project cache is neither read nor written |',
    );
  });

  it('reads the metadata first, else the token; "-" when neither says', () => {
    const oidc = { kind: 'token', token: 't', source: 'oidc', isolated: false } as const;
    expect(isolatedCell(oidc)).toBe('no');
    expect(isolatedCell(oidc, true)).toBe('yes');
    expect(isolatedCell({ kind: 'no-project', reason: 'x' })).toBe('-');
    expect(isolatedCell({ kind: 'fallback', reason: 'x' })).toBe('-');
  });
});
