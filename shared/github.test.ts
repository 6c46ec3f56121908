import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { examplePayload } from '../test/support/runner';
import { getGithubContext, gitContext, gitContextFormat, isOwnGitContext, workflowRunUrl } from './github';
import type { GitContextOptions } from './github';

const dir = mkdtempSync(join(tmpdir(), 'gh-'));
let n = 0;

function contextFor(eventName: string, payload: Record<string, unknown>, env: Record<string, string> = {}) {
  const path = join(dir, `event-${++n}.json`);
  writeFileSync(path, JSON.stringify(payload));
  return getGithubContext({
    GITHUB_EVENT_NAME: eventName,
    GITHUB_EVENT_PATH: path,
    GITHUB_REPOSITORY: 'Codertocat/Hello-World',
    GITHUB_RUN_ID: '99',
    GITHUB_RUN_ATTEMPT: '2',
    GITHUB_SHA: 'abc123',
    GITHUB_REF: 'refs/heads/main',
    ...env,
  });
}

/** The real pull_request payload with its head moved to a fork (the examples have no fork PR). */
function forked(payload: Record<string, unknown>): Record<string, unknown> {
  const p = structuredClone(payload) as { pull_request: { head: { repo: Record<string, unknown> } } };
  p.pull_request.head.repo = {
    ...p.pull_request.head.repo,
    full_name: 'mallory/Hello-World',
    fork: true,
    id: 7,
  };
  return p as unknown as Record<string, unknown>;
}

describe('fork detection from real event payloads', () => {
  const pr = examplePayload('pull_request', (p) => p.action === 'opened');
  it.each([
    ['push', examplePayload('push'), false, false],
    ['workflow_dispatch', examplePayload('workflow_dispatch'), false, false],
    ['pull_request', pr, false, false],
    ['pull_request', forked(pr), true, true],
    // GitHub sends pull_request_target the pull_request payload; such runs have secrets and OIDC: trusted path.
    ['pull_request_target', forked(pr), true, false],
    ['pull_request_target', pr, false, false],
  ])('%s (fork: %s)', (event, payload, fromFork, untrusted) => {
    const ctx = contextFor(event, payload);
    expect(ctx.fromFork).toBe(fromFork);
    expect(ctx.untrustedForkPullRequest).toBe(untrusted);
  });

  it('a fork that was deleted (head.repo null) is still a fork', () => {
    const p = structuredClone(pr) as { pull_request: { head: { repo: unknown } } };
    p.pull_request.head.repo = null;
    expect(contextFor('pull_request', p as unknown as Record<string, unknown>).untrustedForkPullRequest).toBe(
      true,
    );
  });

  it('reads the PR number, head repository, run and visibility', () => {
    const ctx = contextFor('pull_request', forked(pr));
    expect(ctx.pullRequestNumber).toBe((pr as { number: number }).number);
    expect(ctx.headRepository).toBe('mallory/Hello-World');
    expect(ctx.runId).toBe('99');
    expect(ctx.runAttempt).toBe('2');
    expect(ctx.privateRepository).toBe(false);
  });
});

describe('the default git context', () => {
  it('is the repository at the event commit, as docker/build-push-action builds it', () => {
    const ctx = contextFor('push', examplePayload('push'));
    expect(gitContext(ctx)).toBe('https://github.com/Codertocat/Hello-World.git#abc123');
    expect(workflowRunUrl(ctx)).toBe('https://github.com/Codertocat/Hello-World/actions/runs/99/attempts/2');
  });

  it('pins a PR head ref to the PR head commit, on the configured server', () => {
    const pr = examplePayload('pull_request', (p) => p.action === 'opened') as {
      pull_request: { head: { sha: string } };
    };
    const ctx = contextFor('pull_request', pr as unknown as Record<string, unknown>, {
      GITHUB_REF: 'refs/pull/2/head',
      GITHUB_SERVER_URL: 'https://ghe.example.com/',
    });
    expect(gitContext(ctx)).toBe(
      `https://ghe.example.com/Codertocat/Hello-World.git#${pr.pull_request.head.sha}`,
    );
  });
});

describe('the default git context in the query form (docker/build-push-action v7.1)', () => {
  const ctx = contextFor('push', examplePayload('push'));
  const repo = 'https://github.com/Codertocat/Hello-World.git';
  const send = { BUILDX_SEND_GIT_QUERY_AS_INPUT: 'true' };
  it.each<[string, GitContextOptions, string]>([
    ['classic without the env', { buildxVersion: '0.29.1', env: {} }, `${repo}#abc123`],
    ['query with the env on buildx 0.29', { buildxVersion: '0.29.1', env: send }, `${repo}?ref=abc123`],
    ['classic with the env on buildx 0.28', { buildxVersion: '0.28.0', env: send }, `${repo}#abc123`],
    ['classic with the env and an unknown buildx', { env: send }, `${repo}#abc123`],
    [
      'classic when the env is false',
      { buildxVersion: '0.29.1', env: { BUILDX_SEND_GIT_QUERY_AS_INPUT: 'false' } },
      `${repo}#abc123`,
    ],
    [
      'query with a subdir',
      { buildxVersion: '0.29.1', env: send, subdir: 'app' },
      `${repo}?ref=abc123&subdir=app`,
    ],
    ['classic with a subdir', { buildxVersion: '0.29.1', env: {}, subdir: 'app' }, `${repo}#abc123:app`],
    ['no subdir for .', { buildxVersion: '0.29.1', env: send, subdir: '.' }, `${repo}?ref=abc123`],
    [
      'query forced by an extra attribute, any buildx',
      { buildxVersion: '0.20.0', env: {}, attrs: { 'keep-git-dir': 'true' } },
      `${repo}?ref=abc123&keep-git-dir=true`,
    ],
    [
      'ref and checksum with a checksum',
      { env: {}, format: 'query', attrs: { checksum: 'cafebabe' } },
      `${repo}?ref=refs/heads/main&checksum=cafebabe`,
    ],
    [
      'ref and checksum with fetch-by-commit',
      { env: {}, attrs: { 'fetch-by-commit': 'true' } },
      `${repo}?ref=refs/heads/main&checksum=abc123&fetch-by-commit=true`,
    ],
    [
      'a checksum pins the classic form',
      { env: {}, attrs: { checksum: 'cafebabe', subdir: 'app' } },
      `${repo}#cafebabe:app`,
    ],
    [
      'all attributes in order',
      {
        env: {},
        format: 'query',
        attrs: { ref: 'refs/tags/v1', checksum: 'cafebabe', subdir: 'app', submodules: 'false' },
      },
      `${repo}?ref=refs/tags/v1&checksum=cafebabe&subdir=app&submodules=false`,
    ],
  ])('%s', (_name, opts, expected) => {
    expect(gitContext(ctx, opts)).toBe(expected);
  });

  it('picks the form as docker does', () => {
    expect(gitContextFormat({ env: send, buildxVersion: '0.29.0' })).toBe('query');
    expect(gitContextFormat({ env: { BUILDX_SEND_GIT_QUERY_AS_INPUT: '1' }, buildxVersion: '0.30.0' })).toBe(
      'query',
    );
    expect(gitContextFormat({ env: send, buildxVersion: '0.28.1' })).toBe('fragment');
  });

  it('a PR merge ref becomes its head commit with DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF', () => {
    const pr = examplePayload('pull_request', (p) => p.action === 'opened') as {
      pull_request: { head: { sha: string } };
    };
    const prCtx = contextFor('pull_request', pr as unknown as Record<string, unknown>, {
      GITHUB_REF: 'refs/pull/2/merge',
    });
    const head = pr.pull_request.head.sha;
    expect(gitContext(prCtx, { env: {} })).toBe(`${repo}#abc123`);
    expect(gitContext(prCtx, { env: { DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF: 'true' } })).toBe(
      `${repo}#${head}`,
    );
    expect(
      gitContext(prCtx, {
        env: { ...send, DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF: 'true' },
        buildxVersion: '0.29.1',
      }),
    ).toBe(`${repo}?ref=${head}`);
  });

  it.each([
    [`${repo}#abc123`, true],
    [`${repo}#abc123:app`, true],
    [`${repo}?ref=abc123&subdir=app`, true],
    [`${repo}`, true],
    ['https://GitHub.com/codertocat/hello-world.git?ref=abc123', true],
    [`${repo}.evil.example/x.git#abc123`, false],
    ['https://github.com/Codertocat/Hello-World-2.git#abc123', false],
    ['https://github.com/mallory/Hello-World.git?ref=abc123', false],
    ['https://ghe.example.com/Codertocat/Hello-World.git#abc123', false],
    ['.', false],
  ])("%s is this repository's own git context: %s", (context, own) => {
    expect(isOwnGitContext(context, ctx)).toBe(own);
  });
});
