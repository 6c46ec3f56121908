// The workflows the end-to-end tests and the demo run: each is a Job of the runner harness that runs the real
// action bundles (setup, then build-push or bake) against the world's broker, registry and release server.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  CLAIM_EXCHANGE_PATH,
  CLAIM_PATH,
  claimArtifactName,
  parseClaimCreated,
  parseClaimExchangeResponse,
} from '../../shared/contract/fork-claim';
import type { GithubStandIn, Run } from '../support/github-api';
import { examplePayload, forkPullRequestPayload, Job, ROOT } from '../support/runner';
import { mintedProjectToken } from '../support/secrets';
import type { StepResult } from '../support/runner';
import { DEMO, pushClaims, REPOSITORY } from './world';
import type { World } from './world';

export interface WorkflowOptions {
  /** The image tag pushed to the plain registry. */
  tag: string;
  project?: string;
  repository?: string;
  repositoryId?: string;
  platforms?: string;
  /** Extra build-push inputs. */
  inputs?: Record<string, string>;
  /** Job env overrides (e.g. an unreachable DEPOT_BROKER_URL). */
  env?: Record<string, string>;
  /** Where the actions live (the monorepo's actions/ folder, or the standalone trees of release:actions). */
  actions?: { setup: string; buildPush: string; bake: string };
  toolCache?: string;
  /** Give the job its own DOCKER_CONFIG (JobOptions.ownDockerConfig). */
  ownDockerConfig?: boolean;
}

export interface WorkflowRun {
  job: Job;
  setup: StepResult;
  build: StepResult;
  post: StepResult[];
  durationMs: number;
}

export const MONOREPO_ACTIONS = {
  setup: join(ROOT, 'actions', 'setup'),
  buildPush: join(ROOT, 'actions', 'build-push'),
  bake: join(ROOT, 'actions', 'bake'),
};

export function newJob(world: World, opts: Omit<WorkflowOptions, 'tag'> = {}): Job {
  const repository = opts.repository ?? REPOSITORY;
  Object.assign(world.stack.issuer.defaults, pushClaims(repository, opts.repositoryId));
  return new Job({
    repository,
    event: { name: 'push', payload: pushPayload(repository) },
    env: {
      ACTIONS_ID_TOKEN_REQUEST_URL: world.stack.issuer.runtimeUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: world.stack.issuer.runtimeToken,
      DEPOT_BROKER_URL: world.stack.brokerUrl,
      ...opts.env,
    },
    ...(opts.toolCache ? { toolCache: opts.toolCache } : {}),
    ...(opts.ownDockerConfig ? { ownDockerConfig: true } : {}),
  });
}

/** A real push payload (@octokit/webhooks-examples) moved to `repository`'s main branch, public. */
function pushPayload(repository: string): Record<string, unknown> {
  const payload = examplePayload('push') as { ref: string; repository: Record<string, unknown> };
  const [owner = '', name = ''] = repository.split('/');
  payload.ref = 'refs/heads/main';
  payload.repository = {
    ...payload.repository,
    full_name: repository,
    name,
    owner: { ...(payload.repository.owner as Record<string, unknown>), login: owner, name: owner },
    private: false,
    visibility: 'public',
  };
  return payload as unknown as Record<string, unknown>;
}

async function setupStep(world: World, job: Job, actions: WorkflowOptions['actions']): Promise<StepResult> {
  return job.step((actions ?? MONOREPO_ACTIONS).setup, {
    inputs: { version: world.version, 'manifest-url': `${world.release.url}/manifest.json` },
  });
}

/** setup, then build-push of examples/demo/app, then the post steps. */
export async function buildWorkflow(world: World, opts: WorkflowOptions): Promise<WorkflowRun> {
  const job = newJob(world, opts);
  const actions = opts.actions ?? MONOREPO_ACTIONS;
  return { job, ...(await setupThenBuild(world, job, actions, opts, 'linux/amd64,linux/arm64')) };
}

/** setup, then build-push of examples/demo/app (pushed to the plain registry), then the post steps. */
async function setupThenBuild(
  world: World,
  job: Job,
  actions: typeof MONOREPO_ACTIONS,
  opts: Pick<WorkflowOptions, 'platforms' | 'tag' | 'project' | 'inputs'>,
  platforms: string,
): Promise<Omit<WorkflowRun, 'job'>> {
  const setup = await setupStep(world, job, actions);
  const started = Date.now();
  const build =
    setup.exitCode === 0
      ? await job.step(actions.buildPush, {
          inputs: {
            context: join(DEMO, 'app'),
            platforms: opts.platforms ?? platforms,
            push: 'true',
            tags: `127.0.0.1:5000/demo/app:${opts.tag}`,
            project: opts.project ?? 'demo',
            ...opts.inputs,
          },
        })
      : setup;
  const durationMs = Date.now() - started;
  const post = await job.finish();
  return { setup, build, post, durationMs };
}

/** setup, then bake of examples/demo's two targets. */
export async function bakeWorkflow(world: World, opts: WorkflowOptions): Promise<WorkflowRun> {
  const job = newJob(world, opts);
  const actions = opts.actions ?? MONOREPO_ACTIONS;
  const setup = await setupStep(world, job, actions);
  const started = Date.now();
  const build = await job.step(actions.bake, {
    inputs: { source: '.', workdir: DEMO, push: 'true', project: opts.project ?? 'demo', ...opts.inputs },
    env: { TAG: opts.tag },
  });
  const durationMs = Date.now() - started;
  const post = await job.finish();
  return { job, setup, build, post, durationMs };
}

/** How many RUN steps the build log shows as CACHED, and how many it ran. */
export function runSteps(log: string): { cached: number; run: number } {
  const runs = new Map<string, boolean>();
  for (const line of log.split('\n')) {
    const m = /^#(\d+) \[[^\]]+\] RUN /.exec(line);
    if (m?.[1]) runs.set(m[1], runs.get(m[1]) ?? false);
    const c = /^#(\d+) CACHED/.exec(line);
    if (c?.[1] && runs.has(c[1])) runs.set(c[1], true);
  }
  const cached = [...runs.values()].filter(Boolean).length;
  return { cached, run: runs.size - cached };
}

export interface ForkWorkflowOptions extends Omit<
  WorkflowOptions,
  'repository' | 'repositoryId' | 'actions'
> {
  /** The fork the pull request comes from (default mallory/web). */
  fork?: string;
  pullRequest?: number;
  /** Called with the run once it is in the GitHub stand-in, before the job starts (e.g. to move the PR's head). */
  prepare?: (run: Run) => void;
}

export interface ForkWorkflowRun extends WorkflowRun {
  run: Run;
}

let nextForkRun = 7_100_000_000 + Math.floor(Math.random() * 1_000_000);

/** A fork pull request's run of acme/web, in progress, in the GitHub stand-in. */
export function addForkRun(github: GithubStandIn, opts: { fork?: string; pullRequest?: number } = {}): Run {
  return github.addRun({
    repository: REPOSITORY,
    runId: nextForkRun++,
    attempt: 1,
    event: 'pull_request',
    status: 'in_progress',
    headRepository: opts.fork ?? 'mallory/web',
    headSha: randomBytes(20).toString('hex'),
    private: false,
    pullRequest: opts.pullRequest ?? 12,
    repositoryId: 123456,
  });
}

/**
 * A `pull_request` job from a fork, as GitHub runs it: the event payload's head in another owner's repository, no
 * ACTIONS_ID_TOKEN_REQUEST_URL (GitHub gives fork runs no OIDC token), no `vars` (DEPOT_BROKER_URL written literally
 * in the workflow's env), and the runner's artifact env for its run in the GitHub stand-in.
 */
export function newForkJob(
  world: World,
  github: GithubStandIn,
  run: Run,
  env: Record<string, string> = {},
): Job {
  const number = run.pullRequest ?? 12;
  return new Job({
    repository: run.repository,
    event: {
      name: 'pull_request',
      payload: forkPullRequestPayload({
        repository: run.repository,
        fork: run.headRepository,
        number,
        headSha: run.headSha,
        headRef: run.headBranch,
        repositoryId: run.repositoryId,
        forkId: run.headRepositoryId,
      }),
    },
    env: {
      GITHUB_REF: `refs/pull/${number}/merge`,
      GITHUB_SHA: randomBytes(20).toString('hex'),
      GITHUB_HEAD_REF: run.headBranch,
      GITHUB_BASE_REF: 'main',
      DEPOT_BROKER_URL: world.stack.brokerUrl,
      ...env,
    },
    actionsRuntime: {
      resultsUrl: github.artifacts.url,
      runtimeToken: run.runtimeToken,
      runId: run.runId,
      runAttempt: run.attempt,
    },
  });
}

/** setup, then build-push of examples/demo/app from a fork pull request; the run completes after its post steps. */
export async function forkBuildWorkflow(
  world: World,
  github: GithubStandIn,
  opts: ForkWorkflowOptions,
): Promise<ForkWorkflowRun> {
  const run = addForkRun(github, opts);
  opts.prepare?.(run);
  const job = newForkJob(world, github, run, opts.env);
  const result = await setupThenBuild(world, job, MONOREPO_ACTIONS, opts, 'linux/amd64');
  github.runs.complete(run);
  return { job, ...result, run };
}

/**
 * The fork-PR claim flow done by hand for `run` (claim, the artifact listed in the run, exchange): the isolated
 * project token a fork build gets, for tests that use it directly against the registry.
 */
export async function claimForkToken(
  world: World,
  github: GithubStandIn,
  run: Run,
  project = 'demo',
): Promise<string> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${world.stack.brokerUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const claimed = await post(CLAIM_PATH, {
    repository: run.repository,
    runId: run.runId,
    runAttempt: run.attempt,
    pullRequest: run.pullRequest,
    project,
  });
  const created = parseClaimCreated(claimed.body);
  if (created?.ok !== true) throw new Error(`the broker refused the claim: ${JSON.stringify(claimed)}`);
  github.runs.storeArtifact(run, claimArtifactName(created.challenge), 'claim');
  for (let i = 0; i < 30; i++) {
    const answer = await post(CLAIM_EXCHANGE_PATH, { claimId: created.claimId });
    const parsed = parseClaimExchangeResponse(answer.body);
    if (parsed?.ok === true) {
      mintedProjectToken(parsed.token);
      return parsed.token;
    }
    if (!parsed || !('status' in parsed)) {
      throw new Error(`the broker refused the claim exchange: ${JSON.stringify(answer)}`);
    }
    await new Promise((r) => setTimeout(r, Math.max(500, parsed.retryAfter * 1000)));
  }
  throw new Error('the broker never saw the claim artifact');
}
