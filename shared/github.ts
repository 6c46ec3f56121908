// The run's GitHub context: the runner's GITHUB_* variables and the event payload at GITHUB_EVENT_PATH.
import { existsSync, readFileSync } from 'node:fs';
import semver from 'semver';
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

/** How a git URL names its commit and subdirectory: `#<ref>:<subdir>`, or `?ref=<ref>&subdir=<subdir>` (buildx 0.29). */
export type GitContextFormat = 'fragment' | 'query';

export interface GitContextOptions {
  /** The installed buildx's version (semver): the query form needs buildx >= 0.29 unless attributes force it. */
  buildxVersion?: string;
  /** BUILDX_SEND_GIT_QUERY_AS_INPUT and DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF are read from it. */
  env?: NodeJS.ProcessEnv;
  /** Forces a form; by default it is chosen as docker's toolkit chooses it. */
  format?: GitContextFormat;
  subdir?: string;
  checksum?: string;
  /** Query attributes (`ref`, `checksum`, `subdir` and others such as `keep-git-dir`); any other than those three forces the query form. */
  attrs?: Record<string, string>;
}

/** Go's strconv.ParseBool true values, as docker's toolkit reads boolean env (anything else is false). */
function envTrue(value: string | undefined): boolean {
  return value !== undefined && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value);
}

/** The repository's git URL on this server, without ref: `<server>/<owner>/<repo>.git`. */
export function repositoryGitUrl(ctx: GithubContext): string {
  return `${ctx.serverUrl}/${ctx.repository}.git`;
}

/**
 * The form the default context takes, as docker's toolkit (Build.gitContext, build-push-action v7.1) picks it: the
 * query form when attributes other than ref, checksum and subdir are given, or when BUILDX_SEND_GIT_QUERY_AS_INPUT
 * is set and buildx is 0.29 or later (an unknown version keeps the classic form); otherwise the classic fragment.
 */
export function gitContextFormat(opts: GitContextOptions = {}): GitContextFormat {
  if (opts.format) return opts.format;
  const extra = Object.keys(opts.attrs ?? {}).filter((k) => !['ref', 'checksum', 'subdir'].includes(k));
  if (extra.length > 0) return 'query';
  const env = opts.env ?? process.env;
  if (!envTrue(env.BUILDX_SEND_GIT_QUERY_AS_INPUT)) return 'fragment';
  const v = opts.buildxVersion ? semver.coerce(opts.buildxVersion) : null;
  return v && semver.gte(v, '0.29.0') ? 'query' : 'fragment';
}

/**
 * The default build context: the repository at the event's commit as a git URL, as docker's toolkit builds it.
 * Classic: `<server>/<owner>/<repo>.git#<sha>[:<subdir>]`. Query: `<server>/<owner>/<repo>.git?ref=<sha>[&subdir=..]`
 * (`ref=<ref>&checksum=<sha>` when a checksum or `fetch-by-commit` is given, then the other attributes). A PR head
 * ref pins the PR's head commit; DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF turns a PR merge ref into its head ref.
 */
export function gitContext(ctx: GithubContext, opts: GitContextOptions = {}): string {
  const env = opts.env ?? process.env;
  const attrs = opts.attrs ?? {};
  let ref = attrs.ref || ctx.ref;
  if (ref !== '' && !ref.startsWith('refs/')) ref = `refs/heads/${ref}`;
  else if (ref.startsWith('refs/pull/') && envTrue(env.DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF)) {
    ref = ref.replace(/\/merge$/, '/head');
  }
  let pinned = ctx.sha || ref;
  if (ref.startsWith('refs/pull/') && ref.endsWith('/head')) pinned = ctx.headSha ?? ref;
  const checksum = opts.checksum || attrs.checksum;
  const commit = checksum || pinned;
  const subdir = opts.subdir || attrs.subdir;
  const withSubdir = subdir && subdir !== '.' ? subdir : '';
  const base = repositoryGitUrl(ctx);
  if (gitContextFormat(opts) === 'fragment') return `${base}#${commit}${withSubdir ? `:${withSubdir}` : ''}`;
  const fetchByCommit = envTrue(attrs['fetch-by-commit']);
  const query = [`ref=${fetchByCommit || checksum ? ref : commit}`];
  const pin = fetchByCommit ? commit : checksum;
  if (pin) query.push(`checksum=${pin}`);
  if (withSubdir) query.push(`subdir=${withSubdir}`);
  for (const [k, v] of Object.entries(attrs))
    if (!['ref', 'checksum', 'subdir'].includes(k)) query.push(`${k}=${v}`);
  return `${base}?${query.join('&')}`;
}

/**
 * Whether a build context is this repository's own git context on this server, in either form: the repository's
 * git URL alone, or followed by `#` (classic) or `?` (query). Only such a context gets the `github-token` as
 * GIT_AUTH_TOKEN (and BuildKit sends it to this server's host only).
 */
export function isOwnGitContext(context: string, ctx: GithubContext): boolean {
  const base = repositoryGitUrl(ctx).toLowerCase();
  if (!context.toLowerCase().startsWith(base)) return false;
  const rest = context.slice(base.length);
  return rest === '' || rest.startsWith('#') || rest.startsWith('?');
}

/** The subdirectory a git context names (`#<ref>:<subdir>` or `?...&subdir=<subdir>`), or '' for the root. */
export function gitContextSubdir(context: string): string {
  const hash = context.indexOf('#');
  if (hash >= 0) {
    const fragment = context.slice(hash + 1);
    const colon = fragment.indexOf(':');
    return colon >= 0 ? fragment.slice(colon + 1).replace(/^\/+|\/+$/g, '') : '';
  }
  const q = context.indexOf('?');
  const subdir = q >= 0 ? (new URLSearchParams(context.slice(q + 1)).get('subdir') ?? '') : '';
  return subdir.replace(/^\/+|\/+$/g, '').replace(/^\.$/, '');
}
