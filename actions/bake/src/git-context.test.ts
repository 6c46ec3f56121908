// bake's default source: this repository's git context in the classic or the query form (bake-action v7.1).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { githubContext } from '../../../test/support/github-context';
import { sourceAndWorkdir } from './inputs';

afterEach(() => vi.unstubAllEnvs());

describe('the default source', () => {
  it.each<[string, string, string | undefined, string]>([
    [
      'classic without BUILDX_SEND_GIT_QUERY_AS_INPUT',
      '',
      '0.29.1',
      'https://github.com/acme/web.git#abc123',
    ],
    ['query with it on buildx 0.29', 'true', '0.29.1', 'https://github.com/acme/web.git?ref=abc123'],
    ['classic with it below buildx 0.29', 'true', '0.28.0', 'https://github.com/acme/web.git#abc123'],
    ['classic with it when buildx is unknown', 'true', undefined, 'https://github.com/acme/web.git#abc123'],
  ])('%s', (_name, send, version, source) => {
    vi.stubEnv('BUILDX_SEND_GIT_QUERY_AS_INPUT', send);
    const buildx = version ? { version, raw: '' } : { raw: '' };
    expect(sourceAndWorkdir('', '', githubContext(), buildx).source).toBe(source);
    expect(sourceAndWorkdir('{{defaultContext}}', '', githubContext(), buildx).source).toBe(source);
  });
});
