import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { examplePayload } from '../test/support/runner';
import { getGithubContext, gitContext, workflowRunUrl } from './github';

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
