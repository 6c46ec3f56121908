// build-push's default context in both git forms, and GIT_AUTH_TOKEN for this repository's own git context only.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { githubContext } from '../../../test/support/github-context';
import { getInputs, toArgs } from './inputs';

afterEach(() => vi.unstubAllEnvs());

const REPO = 'https://github.com/acme/web.git';
const QUERY = { BUILDX_SEND_GIT_QUERY_AS_INPUT: 'true' };

function build(inputs: Record<string, string>, env: Record<string, string> = {}, buildx = '0.29.1') {
  const all = {
    context: '',
    'github-token': 'ghs_abc',
    load: 'false',
    'no-cache': 'false',
    pull: 'false',
    push: 'false',
    save: 'false',
    'buildx-fallback': 'false',
    lint: 'false',
    'lint-fail-on': 'error',
    ...inputs,
  };
  for (const [k, v] of Object.entries(all)) vi.stubEnv(`INPUT_${k.toUpperCase()}`, v);
  const secrets: string[] = [];
  const { buildxArgs, context } = toArgs(getInputs(), {
    github: githubContext(),
    buildx: { version: buildx, raw: '' },
    env,
    warn: () => undefined,
    writeSecret: (v) => {
      secrets.push(v);
      return `/tmp/secret-${secrets.length}`;
    },
    iidFile: '/tmp/iid',
    metadataFile: '/tmp/meta.json',
  });
  const tokenSecret = buildxArgs.find((a) => a.startsWith('id=GIT_AUTH_TOKEN'));
  return { context, tokenSecret, secrets };
}

describe('the default context', () => {
  it.each<[string, Record<string, string>, Record<string, string>, string, string]>([
    ['classic by default', { context: '' }, {}, '0.29.1', `${REPO}#abc123`],
    [
      'query with BUILDX_SEND_GIT_QUERY_AS_INPUT on buildx 0.29',
      { context: '' },
      QUERY,
      '0.29.1',
      `${REPO}?ref=abc123`,
    ],
    ['classic with it below buildx 0.29', { context: '' }, QUERY, '0.28.0', `${REPO}#abc123`],
    [
      '{{defaultContext}}:app in the query form',
      { context: '{{defaultContext}}:app' },
      QUERY,
      '0.29.1',
      `${REPO}?ref=abc123&subdir=app`,
    ],
    [
      '{{defaultContext}}:app in the classic form',
      { context: '{{ defaultContext }}:app' },
      {},
      '0.29.1',
      `${REPO}#abc123:app`,
    ],
    [
      '{{defaultContext}} with query attributes of the user',
      { context: '{{defaultContext}}&keep-git-dir=true' },
      QUERY,
      '0.29.1',
      `${REPO}?ref=abc123&keep-git-dir=true`,
    ],
  ])('%s', (_name, inputs, env, buildx, context) => {
    const r = build(inputs, env, buildx);
    expect(r.context).toBe(context);
    // Each is this repository's own git context: the token goes with it, scoped to the server's host.
    expect(r.tokenSecret).toBe('id=GIT_AUTH_TOKEN.github.com,src=/tmp/secret-1');
    expect(r.secrets).toEqual(['ghs_abc']);
  });
});

describe('GIT_AUTH_TOKEN recognises this repository in both forms, and nothing else', () => {
  it.each<[string, boolean]>([
    [`${REPO}#abc123:app`, true],
    [`${REPO}?ref=refs/heads/main&checksum=abc123&subdir=app`, true],
    ['https://github.com/acme/web.git.evil.example/x.git?ref=abc123', false],
    ['https://github.com/acme/web-2.git#abc123', false],
    ['https://github.com/mallory/web.git?ref=abc123', false],
    ['https://evil.example/acme/web.git#abc123', false],
    ['.', false],
  ])('%s: %s', (context, sent) => {
    const r = build({ context }, QUERY);
    expect(r.context).toBe(context);
    expect(r.secrets).toEqual(sent ? ['ghs_abc'] : []);
  });

  it("the user's own GIT_AUTH_TOKEN (bare or for this host) wins", () => {
    for (const secret of ['GIT_AUTH_TOKEN=mine', 'GIT_AUTH_TOKEN.github.com=mine']) {
      expect(build({ secrets: secret }, QUERY).secrets).toEqual(['mine']);
    }
  });
});
