// The token-auth cache registry the CLI's cache tests build against: the real broker and registry
// (test/support/stack.ts). Tokens are asked for by kind, as a CI run gets them from its trust relationship:
// full (a push to main), read (a pull request: build + cache:read), isolated (a rule with `isolated: true`).
import type { GithubClaims } from '../../test/support/issuer';
import { startStack } from '../../test/support/stack';
import type { Stack } from '../../test/support/stack';

export type TokenKind = 'full' | 'read' | 'isolated';

export const PROJECTS_YAML = `
- id: web
  rules:
    - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: "refs/heads/*" }
    - { id: web-prs, provider: github-actions, repository: acme/web, repository_id: "123456", event_name: [pull_request], grants: [build, "cache:read"] }
- id: api
  rules:
    - { id: api-main, provider: github-actions, repository: acme/api, repository_id: "234567", ref: "refs/heads/*" }
- id: untrusted
  rules:
    - { id: untrusted, provider: github-actions, repository: acme/untrusted, repository_id: "345678", isolated: true }
`;

const REPOS = {
  web: { repository: 'acme/web', repository_id: '123456' },
  api: { repository: 'acme/api', repository_id: '234567' },
  untrusted: { repository: 'acme/untrusted', repository_id: '345678' },
};

function claims(kind: TokenKind, project: 'web' | 'api'): Partial<GithubClaims> {
  const repo = kind === 'isolated' ? REPOS.untrusted : REPOS[project];
  const pr = kind === 'read';
  const ref = pr ? 'refs/pull/7/merge' : 'refs/heads/main';
  return {
    ...repo,
    repository_owner: 'acme',
    ref,
    event_name: pr ? 'pull_request' : 'push',
    workflow_ref: `${repo.repository}/.github/workflows/ci.yml@${ref}`,
    job_workflow_ref: `${repo.repository}/.github/workflows/ci.yml@${ref}`,
  };
}

export interface CacheFixture {
  stack: Stack;
  host: string;
  token(kind?: TokenKind, project?: 'web' | 'api'): Promise<string>;
  /** The registry's log so far (its access log names every request). */
  log(): string;
  stop(): Promise<void>;
}

export async function startCacheFixture(): Promise<CacheFixture> {
  const stack = await startStack({ projects: PROJECTS_YAML });
  return {
    stack,
    host: stack.registryHost,
    token: (kind = 'full', project = 'web') =>
      stack.projectToken(claims(kind, project), kind === 'isolated' ? 'untrusted' : project),
    log: () => stack.registryLog(),
    stop: () => stack.stop(),
  };
}

/** Registry requests that write to `repo` (manifest or blob uploads) in a slice of the registry log. */
export function writesTo(log: string, repo: string): string[] {
  return log.split('\n').filter((l) => new RegExp(`"(PUT|POST|PATCH) /v2/${repo}/`).test(l));
}

/** Registry requests that touch `repo` at all. */
export function touches(log: string, repo: string): string[] {
  return log.split('\n').filter((l) => l.includes(`/v2/${repo}/`));
}
