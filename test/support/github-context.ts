// A GithubContext for unit tests: a push to acme/web's main branch, run 42 attempt 1, unless overridden.
import type { GithubContext } from '../../shared/types/github';

export function githubContext(over: Partial<GithubContext> = {}): GithubContext {
  return {
    eventName: 'push',
    repository: 'acme/web',
    serverUrl: 'https://github.com',
    apiUrl: 'https://api.github.com',
    sha: 'abc123',
    ref: 'refs/heads/main',
    runId: '42',
    runAttempt: '1',
    visibility: 'public',
    privateRepository: false,
    fromFork: false,
    untrustedForkPullRequest: false,
    payload: {},
    ...over,
  };
}
