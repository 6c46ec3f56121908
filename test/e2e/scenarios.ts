// The workflows the end-to-end tests and the demo run: each is a Job of the runner harness that runs the real
// action bundles (setup, then build-push or bake) against the world's broker, registry and release server.
import { join } from 'node:path';
import { examplePayload, Job, ROOT } from '../support/runner';
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
  const setup = await setupStep(world, job, actions);
  const started = Date.now();
  const build =
    setup.exitCode === 0
      ? await job.step(actions.buildPush, {
          inputs: {
            context: join(DEMO, 'app'),
            platforms: opts.platforms ?? 'linux/amd64,linux/arm64',
            push: 'true',
            tags: `127.0.0.1:5000/demo/app:${opts.tag}`,
            project: opts.project ?? 'demo',
            ...opts.inputs,
          },
        })
      : setup;
  const durationMs = Date.now() - started;
  const post = await job.finish();
  return { job, setup, build, post, durationMs };
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
