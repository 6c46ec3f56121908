// Which CI runs this job, and how its OIDC token is had: CircleCI (`circleci run oidc get`), GitLab CI (the job's
// `id_tokens:` entry DEPOT_OIDC_TOKEN) or Buildkite (`buildkite-agent oidc request-token`). Also the job id the
// project token is cached under, and whether the build is untrusted (a pull or merge request from another
// repository), which never exchanges. The CI token is a secret: registered with addSecret the moment it exists.
import { CommandNotFound } from '../../shared/exec';
import type { ExecOptions, ExecResult } from '../../shared/exec';
import type { CiProvider } from '../../shared/contract/exchange';
import { UserError } from './errors';
import { addSecret } from './log';

export type Exec = (command: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult>;

export interface CiJob {
  provider: Extract<CiProvider, 'circleci' | 'gitlab' | 'buildkite'>;
  /** The CI's name in messages. */
  name: string;
  /** The job's id, the key of the cached project token ('' when the CI gives none). */
  jobId: string;
  /** Why the build is untrusted (a pull request from a fork ...), or undefined when it is not. */
  untrusted?: string;
}

/** The CI this job runs in, or undefined when none that depot exchanges tokens for. */
export function detectCi(env: NodeJS.ProcessEnv): CiJob | undefined {
  if (env.CIRCLECI === 'true') {
    const job: CiJob = { provider: 'circleci', name: 'CircleCI', jobId: env.CIRCLE_WORKFLOW_JOB_ID ?? '' };
    const pr = env.CIRCLE_PR_NUMBER ?? '';
    const headRepo = env.CIRCLE_PR_REPONAME ?? '';
    if (pr !== '' || (headRepo !== '' && headRepo !== (env.CIRCLE_PROJECT_REPONAME ?? ''))) {
      const from = [env.CIRCLE_PR_USERNAME, headRepo].filter(Boolean).join('/');
      job.untrusted = `this CircleCI job builds a pull request from a fork${describe(pr ? `#${pr}` : '', from)}`;
    }
    return job;
  }
  if (env.GITLAB_CI === 'true') {
    const job: CiJob = { provider: 'gitlab', name: 'GitLab CI', jobId: env.CI_JOB_ID ?? '' };
    const source = env.CI_MERGE_REQUEST_SOURCE_PROJECT_ID ?? '';
    const target = env.CI_MERGE_REQUEST_PROJECT_ID ?? '';
    if (source !== '' && source !== target) {
      job.untrusted = `this GitLab CI job builds a merge request from a fork (project ${source}${
        env.CI_MERGE_REQUEST_SOURCE_PROJECT_PATH ? `, ${env.CI_MERGE_REQUEST_SOURCE_PROJECT_PATH}` : ''
      }) into project ${target || '(unknown)'}`;
    }
    return job;
  }
  if (env.BUILDKITE === 'true') {
    const job: CiJob = { provider: 'buildkite', name: 'Buildkite', jobId: env.BUILDKITE_JOB_ID ?? '' };
    const head = env.BUILDKITE_PULL_REQUEST_REPO ?? '';
    if (head !== '' && sameRepository(head, env.BUILDKITE_REPO ?? '') === false) {
      job.untrusted = `this Buildkite job builds a pull request from another repository (${withoutCredentials(head)})`;
    }
    return job;
  }
  return undefined;
}

function describe(pr: string, from: string): string {
  const parts = [pr, from].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** A repository URL as it may be shown: any `user:pass@` of an http(s) URL replaced by `***@`. */
function withoutCredentials(url: string): string {
  return url.replace(/^(\w+:\/\/)[^/@]*@/, '$1***@');
}

/** `git@github.com:acme/web.git`, `https://github.com/acme/web` and `ssh://git@github.com/acme/web.git` are one. */
export function sameRepository(a: string, b: string): boolean {
  const norm = (u: string): string =>
    u
      .trim()
      .toLowerCase()
      .replace(/^\w+:\/\//, '')
      .replace(/^[^/@]*@/, '')
      .replace(/^([^/:]+):(?!\d+\/)/, '$1/')
      .replace(/\/+$/, '')
      .replace(/\.git$/, '');
  return norm(a) === norm(b);
}

/** The one line that says how a job gets the CI token it lacks. */
export function gitlabIdTokensHint(audience: string): string {
  return `add \`id_tokens: DEPOT_OIDC_TOKEN: aud: ${audience}\` to the job`;
}

/** `organization_id,pipeline_id` from DEPOT_BUILDKITE_CLAIMS, checked (claim names only, comma-separated). */
export function buildkiteClaims(env: NodeJS.ProcessEnv): string | undefined {
  const raw = (env.DEPOT_BUILDKITE_CLAIMS ?? '').trim();
  if (raw === '') return undefined;
  const claims = raw.split(',').map((c) => c.trim());
  if (claims.some((c) => !/^[a-z][a-z0-9_]*$/.test(c))) {
    throw new UserError(
      `DEPOT_BUILDKITE_CLAIMS must be a comma-separated list of claim names (e.g. organization_id,pipeline_id), got "${raw}".`,
    );
  }
  return claims.join(',');
}

/**
 * A fresh OIDC token of `job`'s CI for `audience` (every call: CircleCI's and Buildkite's CLIs mint a new one).
 * A missing tool or a refusing one is a UserError: retrying would not help.
 */
export async function ciToken(
  job: CiJob,
  audience: string,
  env: NodeJS.ProcessEnv,
  exec: Exec,
): Promise<string> {
  if (job.provider === 'gitlab') {
    const token = (env.DEPOT_OIDC_TOKEN ?? '').trim();
    if (token === '') {
      throw new UserError(
        `DEPOT_BROKER_URL is set but this GitLab CI job has no DEPOT_OIDC_TOKEN: ${gitlabIdTokensHint(audience)}.`,
      );
    }
    addSecret(token);
    return token;
  }
  const [command, args, fix] =
    job.provider === 'circleci'
      ? ([
          'circleci',
          ['run', 'oidc', 'get', '--claims', JSON.stringify({ aud: audience })],
          'run the job on a CircleCI executor, which has the circleci CLI',
        ] as const)
      : ([
          'buildkite-agent',
          [
            'oidc',
            'request-token',
            '--audience',
            audience,
            ...((c) => (c ? ['--claim', c] : []))(buildkiteClaims(env)),
          ],
          'run the job on a Buildkite agent, which has buildkite-agent on PATH',
        ] as const);
  const shown = `\`${command} ${args.slice(0, job.provider === 'circleci' ? 3 : 2).join(' ')}\``;
  let res: ExecResult;
  try {
    res = await exec(command, args, { env, captureStdout: true, silent: true, stdin: 'ignore' });
  } catch (err: unknown) {
    if (err instanceof CommandNotFound) {
      throw new UserError(
        `DEPOT_BROKER_URL is set but ${command} is not on PATH, so there is no ${job.name} OIDC token: ${fix}, or set DEPOT_TOKEN.`,
      );
    }
    throw err;
  }
  const token = res.stdout.trim();
  if (token !== '') addSecret(token);
  if (res.exitCode !== 0) {
    const why = res.lastStderrLine ? `: ${res.lastStderrLine}` : '';
    throw new UserError(
      `${shown} failed (exit ${res.exitCode}${why}), so there is no ${job.name} OIDC token for the broker: check that the job may request OIDC tokens, or set DEPOT_TOKEN.`,
    );
  }
  if (token === '') {
    throw new UserError(`${shown} printed no token, so there is no ${job.name} OIDC token for the broker.`);
  }
  return token;
}
