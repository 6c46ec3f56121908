// The run's GitHub context: the runner's GITHUB_* variables and the event payload at GITHUB_EVENT_PATH.
import { existsSync, readFileSync } from 'node:fs';
import type { GithubContext } from './types/github';

export type { GithubContext } from './types/github';

type Json = Record<string, unknown>;

function obj(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function readPayload(path: string | undefined): Json {
  if (!path || !existsSync(path)) return {};
  try {
    return obj(JSON.parse(readFileSync(path, 'utf8'))) ?? {};
  } catch {
    return {};
  }
}

export function getGithubContext(env: NodeJS.ProcessEnv = process.env): GithubContext {
  const payload = readPayload(env.GITHUB_EVENT_PATH);
  const eventName = env.GITHUB_EVENT_NAME ?? '';
  const repo = obj(payload.repository);
  const pr = obj(payload.pull_request);
  const headRepo = obj(obj(pr?.head)?.repo);
  const baseRepo = obj(obj(pr?.base)?.repo);
  const isPrEvent = eventName === 'pull_request' || eventName === 'pull_request_target';
  const headName = str(headRepo?.full_name);
  const baseName = str(baseRepo?.full_name) ?? str(repo?.full_name) ?? env.GITHUB_REPOSITORY ?? '';
  // A deleted fork has head.repo null: still a fork, never the base repository.
  const fromFork =
    isPrEvent &&
    pr !== undefined &&
    (headRepo === undefined || headName?.toLowerCase() !== baseName.toLowerCase());
  const visibility = str(repo?.visibility) ?? (repo?.private === true ? 'private' : repo ? 'public' : '');
  const number =
    typeof pr?.number === 'number'
      ? pr.number
      : typeof payload.number === 'number'
        ? payload.number
        : undefined;
  const context: GithubContext = {
    eventName,
    repository: env.GITHUB_REPOSITORY ?? str(repo?.full_name) ?? '',
    serverUrl: (env.GITHUB_SERVER_URL ?? 'https://github.com').replace(/\/+$/, ''),
    apiUrl: (env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/+$/, ''),
    sha: env.GITHUB_SHA ?? '',
    ref: env.GITHUB_REF ?? '',
    runId: env.GITHUB_RUN_ID ?? '',
    runAttempt: env.GITHUB_RUN_ATTEMPT ?? '1',
    visibility,
    privateRepository: repo?.private === true || visibility === 'private' || visibility === 'internal',
    fromFork,
    untrustedForkPullRequest: fromFork && eventName === 'pull_request',
    payload,
  };
  if (number !== undefined && isPrEvent) context.pullRequestNumber = number;
  if (headName) context.headRepository = headName;
  const headSha = str(obj(pr?.head)?.sha);
  if (headSha) context.headSha = headSha;
  return context;
}

/** The run's URL with its attempt, as docker/build-push-action uses for provenance `builder-id`. */
export function workflowRunUrl(ctx: GithubContext): string {
  return `${ctx.serverUrl}/${ctx.repository}/actions/runs/${ctx.runId}/attempts/${ctx.runAttempt}`;
}

/**
 * The default build context: the repository at the event's commit as a git URL, as docker/build-push-action v6
 * builds it (`<server>/<owner>/<repo>.git#<sha>`; a PR head ref pins the PR's head commit).
 */
export function gitContext(ctx: GithubContext): string {
  let ref = ctx.ref;
  if (ref !== '' && !ref.startsWith('refs/')) ref = `refs/heads/${ref}`;
  let pinned = ctx.sha || ref;
  if (ref.startsWith('refs/pull/') && ref.endsWith('/head') && ctx.headSha) pinned = ctx.headSha;
  return `${ctx.serverUrl}/${ctx.repository}.git#${pinned}`;
}
