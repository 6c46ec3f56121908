/** What an action needs to know about the run it is part of, read once from the runner's env and event file. */
export interface GithubContext {
  eventName: string;
  /** owner/name of the repository the workflow runs in. */
  repository: string;
  serverUrl: string;
  apiUrl: string;
  sha: string;
  ref: string;
  runId: string;
  runAttempt: string;
  /** `public`, `private`, `internal`, or '' when the event does not say. */
  visibility: string;
  /** True when the event says the repository is private (or internal). */
  privateRepository: boolean;
  /** A pull_request or pull_request_target whose head repository differs from the base repository. */
  fromFork: boolean;
  /** Only a `pull_request` event from a fork is untrusted: it gets no OIDC token and takes the fork path. */
  untrustedForkPullRequest: boolean;
  pullRequestNumber?: number;
  headRepository?: string;
  headSha?: string;
  /** The event payload as the runner wrote it. */
  payload: Record<string, unknown>;
}
