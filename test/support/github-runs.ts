// The run model the GitHub stand-in (github-api.ts: the REST API the broker asks; artifact-service.ts: the Actions
// artifact service the real @actions/artifact in a bundle uploads to) shares: workflow runs with their attempts,
// pull requests, and the artifacts each run uploaded. A run has a public id (what GITHUB_RUN_ID and the REST API
// say) and, per attempt, the backend ids the runner's ACTIONS_RUNTIME_TOKEN names in its `scp` claim
// (`Actions.Results:<workflowRunBackendId>:<workflowJobRunBackendId>`), as on github.com.
import { randomBytes, randomUUID } from 'node:crypto';
import { mintedSecret } from './secrets';

export type RunStatus = 'queued' | 'in_progress' | 'completed' | 'waiting' | 'requested' | 'pending';

export interface RunSpec {
  /** The base repository, owner/name (the run's own repository: GITHUB_REPOSITORY). */
  repository: string;
  runId: number;
  attempt?: number;
  /** The event that started the run (default pull_request). */
  event?: string;
  status?: RunStatus;
  /** The head repository, owner/name: another owner for a fork (default: `repository`). */
  headRepository?: string;
  headSha?: string;
  headBranch?: string;
  /** The base repository is private (default false). */
  private?: boolean;
  /** The pull request number the run is for; the pull request is added too (head and base as the run says). */
  pullRequest?: number;
  repositoryId?: number;
  headRepositoryId?: number;
}

export interface Run {
  repository: string;
  runId: number;
  attempt: number;
  event: string;
  status: RunStatus;
  headRepository: string;
  headSha: string;
  headBranch: string;
  private: boolean;
  pullRequest?: number;
  repositoryId: number;
  headRepositoryId: number;
  /** workflowRunBackendId: the run attempt in the results service. */
  backendRunId: string;
  /** workflowJobRunBackendId: the job that uploads. */
  backendJobId: string;
  /** The ACTIONS_RUNTIME_TOKEN a runner gives this attempt's job: a JWT whose `scp` names the backend ids. */
  runtimeToken: string;
  createdAt: string;
}

export interface PullRequest {
  repository: string;
  number: number;
  headRepository: string;
  headSha: string;
  headRef: string;
  baseRef: string;
  state: 'open' | 'closed';
}

export interface StoredArtifact {
  /** The artifact's database id (FinalizeArtifact's artifact_id, the REST API's id). */
  id: number;
  name: string;
  run: Run;
  /** The bytes committed to blob storage (the zip @actions/artifact streamed). */
  content: Buffer;
  size: number;
  /** sha256:<hex> as FinalizeArtifact reported it. */
  digest?: string;
  finalized: boolean;
  createdAt: string;
  expiresAt: string;
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A runtime token shaped like the runner's: a JWT (never verified by the client) whose `scp` names the run. */
function runtimeTokenFor(backendRunId: string, backendJobId: string): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5t: randomBytes(20).toString('base64url') };
  const payload = {
    nameid: randomUUID(),
    scp: `Actions.ExampleScope Actions.Results:${backendRunId}:${backendJobId}`,
    IdentityTypeClaim: 'System:ServiceIdentity',
    iss: 'vstoken.actions.githubusercontent.com',
    aud: 'vso:' + randomUUID(),
    nbf: now - 60,
    exp: now + 6 * 3600,
  };
  return `${b64url(header)}.${b64url(payload)}.${randomBytes(256).toString('base64url')}`;
}

/** The backend ids in a runtime token's `scp` (as @actions/artifact reads them), or undefined. */
export function backendIdsOf(token: string): { runId: string; jobId: string } | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  let scp: unknown;
  try {
    scp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { scp?: unknown }).scp;
  } catch {
    return undefined;
  }
  if (typeof scp !== 'string') return undefined;
  for (const part of scp.split(' ')) {
    const [scope, runId, jobId, ...rest] = part.split(':');
    if (scope === 'Actions.Results' && runId && jobId && rest.length === 0) return { runId, jobId };
  }
  return undefined;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export class GithubRuns {
  readonly runs: Run[] = [];
  readonly pulls: PullRequest[] = [];
  readonly artifacts: StoredArtifact[] = [];
  private nextArtifactId = 1_100_000_000 + Math.floor(Math.random() * 1_000_000);

  /** Adds a run attempt; when it names a pull request, that pull request (added if new) has the run's head. */
  addRun(spec: RunSpec): Run {
    const backendRunId = randomUUID();
    const backendJobId = randomUUID();
    const run: Run = {
      repository: spec.repository,
      runId: spec.runId,
      attempt: spec.attempt ?? 1,
      event: spec.event ?? 'pull_request',
      status: spec.status ?? 'in_progress',
      headRepository: spec.headRepository ?? spec.repository,
      headSha: spec.headSha ?? randomBytes(20).toString('hex'),
      headBranch: spec.headBranch ?? 'patch-1',
      private: spec.private ?? false,
      repositoryId: spec.repositoryId ?? 123456,
      headRepositoryId:
        spec.headRepositoryId ?? (spec.headRepository ? 654321 : (spec.repositoryId ?? 123456)),
      backendRunId,
      backendJobId,
      runtimeToken: runtimeTokenFor(backendRunId, backendJobId),
      createdAt: new Date().toISOString(),
    };
    if (spec.pullRequest !== undefined) run.pullRequest = spec.pullRequest;
    mintedSecret(run.runtimeToken);
    this.runs.push(run);
    // The run is for the pull request's head as it is now: a run of a new push moves the pull request's head.
    if (spec.pullRequest !== undefined) {
      const pull = this.pull(spec.repository, spec.pullRequest);
      this.addPull({
        repository: spec.repository,
        number: spec.pullRequest,
        headRepository: run.headRepository,
        headSha: run.headSha,
        headRef: run.headBranch,
        baseRef: pull?.baseRef ?? 'main',
        state: pull?.state ?? 'open',
      });
    }
    return run;
  }

  /**
   * Another job of the same run attempt (a matrix leg, a later job): the run's backend run id, its own backend job
   * id and runtime token. Its artifacts belong to the run: every job of the attempt lists them.
   */
  addJob(run: Run): Run {
    const backendJobId = randomUUID();
    const job: Run = {
      ...run,
      backendJobId,
      runtimeToken: runtimeTokenFor(run.backendRunId, backendJobId),
      createdAt: new Date().toISOString(),
    };
    mintedSecret(job.runtimeToken);
    this.runs.push(job);
    return job;
  }

  addPull(pull: PullRequest): PullRequest {
    const i = this.pulls.findIndex((p) => same(p.repository, pull.repository) && p.number === pull.number);
    if (i >= 0) this.pulls.splice(i, 1);
    this.pulls.push(pull);
    return pull;
  }

  run(repository: string, runId: number, attempt?: number): Run | undefined {
    const of = this.runs.filter((r) => same(r.repository, repository) && r.runId === runId);
    if (attempt === undefined) return of.sort((a, b) => b.attempt - a.attempt)[0];
    return of.find((r) => r.attempt === attempt);
  }

  runByBackendIds(runId: string, jobId: string): Run | undefined {
    return this.runs.find((r) => r.backendRunId === runId && r.backendJobId === jobId);
  }

  pull(repository: string, number: number): PullRequest | undefined {
    return this.pulls.find((p) => same(p.repository, repository) && p.number === number);
  }

  /** Ends a run attempt (the runner reports the job done). */
  complete(run: Run): void {
    run.status = 'completed';
  }

  /** The artifact a CreateArtifact call opens (one name per run attempt, as the results service allows). */
  createArtifact(run: Run, name: string, expiresAt: string | undefined): StoredArtifact | undefined {
    if (this.artifacts.some((a) => a.run.backendRunId === run.backendRunId && a.name === name))
      return undefined;
    const now = new Date();
    const artifact: StoredArtifact = {
      id: this.nextArtifactId++,
      name,
      run,
      content: Buffer.alloc(0),
      size: 0,
      finalized: false,
      createdAt: now.toISOString(),
      expiresAt: expiresAt ?? new Date(now.getTime() + 90 * 86_400_000).toISOString(),
    };
    this.artifacts.push(artifact);
    return artifact;
  }

  /** An artifact uploaded and finalized at once (for a test that needs one listed, not the upload itself). */
  storeArtifact(run: Run, name: string, content: Buffer | string): StoredArtifact {
    const artifact = this.createArtifact(run, name, undefined);
    if (!artifact) throw new Error(`run ${run.runId} already has an artifact ${name}`);
    artifact.content = Buffer.from(content);
    artifact.size = artifact.content.length;
    artifact.finalized = true;
    return artifact;
  }

  /** The finalized artifacts of a run (every attempt), as the REST API lists them. */
  artifactsOf(repository: string, runId: number): StoredArtifact[] {
    return this.artifacts.filter(
      (a) => a.finalized && same(a.run.repository, repository) && a.run.runId === runId,
    );
  }
}

/** Failures to inject, by operation name: the next `times` calls answer `status` instead. */
export class Faults {
  private readonly pending = new Map<string, number[]>();

  failNext(operation: string, status: number, times = 1): void {
    const queue = this.pending.get(operation) ?? [];
    for (let i = 0; i < times; i++) queue.push(status);
    this.pending.set(operation, queue);
  }

  /** The status to answer instead, if a failure is pending for `operation`. */
  take(operation: string): number | undefined {
    const queue = this.pending.get(operation);
    const status = queue?.shift();
    if (queue?.length === 0) this.pending.delete(operation);
    return status;
  }

  clear(): void {
    this.pending.clear();
  }
}
