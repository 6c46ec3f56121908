// github: what the fork-PR claim flow asks GitHub's REST API, through octokit (its retry and throttling plugins)
// at `github.api_url` with the token in the variable `github.token_env` names. Every request has a timeout, a body
// size cap and no redirects; a failure is retried at most once, and a rate limit is never waited out: the caller
// hears when to ask again (GitHubError.retryAfter) and tells its own caller. Answers are parsed with zod into the
// few fields the flow reads; anything else GitHub says is an `unexpected` GitHubError.
import { Octokit, RequestError } from 'octokit';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { BrokerConfig, GitHubConfig } from './config';

export interface GitHubOptions {
  /** Each attempt of a request, milliseconds (the body included). */
  timeoutMs: number;
  /** The wait before the one retry of a 5xx or a failed connection, milliseconds. */
  retryDelayMs: number;
  /** The largest response body read, bytes. */
  maxBodyBytes: number;
}

export const DEFAULT_GITHUB_OPTIONS: GitHubOptions = {
  timeoutMs: 5_000,
  retryDelayMs: 300,
  maxBodyBytes: 4 * 1024 * 1024,
};

/**
 * `not_found`: GitHub's 404 (or a redirect: the repository was renamed or moved); `unavailable`: 5xx, 429, a rate
 * limit, a 401 (the broker's token) or no answer; `unexpected`: any other answer, or a body that does not parse.
 */
export type GitHubFailure = 'not_found' | 'unavailable' | 'unexpected';

export class GitHubError extends Error {
  readonly kind: GitHubFailure;
  readonly status: number | undefined;
  /** Seconds until GitHub says to ask again (Retry-After, or the rate-limit reset), when it says. */
  readonly retryAfter: number | undefined;
  /** True when the operator must act (a bad broker token, an answer the broker cannot read): logged as an error. */
  readonly operatorError: boolean;

  constructor(
    kind: GitHubFailure,
    message: string,
    opts: { status?: number; retryAfter?: number; operatorError?: boolean } = {},
  ) {
    super(message);
    this.name = 'GitHubError';
    this.kind = kind;
    this.status = opts.status;
    this.retryAfter = opts.retryAfter;
    this.operatorError = opts.operatorError ?? kind === 'unexpected';
  }
}

const WorkflowRunSchema = z.object({
  id: z.number().int(),
  run_attempt: z.number().int(),
  event: z.string(),
  status: z.string().nullable(),
  head_sha: z.string(),
  path: z.string().nullable().optional(),
  head_repository: z.object({ full_name: z.string() }).nullable().optional(),
  repository: z.object({
    id: z.number().int(),
    full_name: z.string(),
    private: z.boolean(),
    visibility: z.string().optional(),
    // Read only when a rule pins repository_owner_id (an unknown owner id then matches no pin).
    owner: z.object({ id: z.number().int() }).optional(),
  }),
});
export type WorkflowRun = z.infer<typeof WorkflowRunSchema>;

const PullSchema = z.object({
  number: z.number().int(),
  head: z.object({ sha: z.string(), repo: z.object({ full_name: z.string() }).nullable() }),
  base: z.object({ repo: z.object({ full_name: z.string() }) }),
});
export type Pull = z.infer<typeof PullSchema>;

const ArtifactsSchema = z.object({
  total_count: z.number().int(),
  artifacts: z.array(
    z.object({
      name: z.string(),
      expired: z.boolean().optional(),
      workflow_run: z.object({ id: z.number().int().nullable().optional() }).nullable().optional(),
    }),
  ),
});
export type Artifact = z.infer<typeof ArtifactsSchema>['artifacts'][number];

/** A 3xx from GitHub: never followed (a renamed repository answers one; the name claimed is not its name). */
class Redirected extends Error {
  constructor(readonly status: number) {
    super(`GitHub answered ${status} (a redirect: the repository was renamed or moved)`);
  }
}

class TooLarge extends Error {
  constructor(max: number) {
    super(`GitHub's answer is over ${max} bytes`);
  }
}

/** fetch with a timeout per attempt, no redirects and a body size cap. */
function boundedFetch(opts: GitHubOptions): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    if (res.status >= 300 && res.status < 400 && res.status !== 304) {
      await res.body?.cancel();
      throw new Redirected(res.status);
    }
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > opts.maxBodyBytes) {
      await res.body?.cancel();
      throw new TooLarge(opts.maxBodyBytes);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > opts.maxBodyBytes) throw new TooLarge(opts.maxBodyBytes);
        chunks.push(chunk);
      }
    }
    const empty = res.status === 204 || res.status === 205 || res.status === 304;
    return new Response(empty ? null : Buffer.concat(chunks), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}

/** Seconds until GitHub says to ask again: Retry-After, or the rate-limit reset when the quota is spent. */
function retryAfterOf(headers: Record<string, unknown>, nowMs: number): number | undefined {
  const after = Number(headers['retry-after']);
  if (headers['retry-after'] !== undefined && Number.isFinite(after) && after >= 0) return Math.ceil(after);
  if (String(headers['x-ratelimit-remaining']) === '0') {
    const reset = Number(headers['x-ratelimit-reset']);
    if (Number.isFinite(reset) && reset > 0) return Math.max(1, Math.ceil(reset - nowMs / 1000));
  }
  return undefined;
}

function causeOf(err: unknown): unknown {
  return err instanceof Error ? err.cause : undefined;
}

/** Sorts what octokit threw into GitHubError's three kinds. */
export function classify(err: unknown, what: string, tokenEnv: string, nowMs: number): GitHubError {
  if (err instanceof GitHubError) return err;
  const cause = causeOf(err);
  if (err instanceof Redirected || cause instanceof Redirected) {
    const status = err instanceof Redirected ? err.status : (cause as Redirected).status;
    return new GitHubError('not_found', `${what}: GitHub answered ${status}, a redirect (renamed or moved)`, {
      status,
    });
  }
  if (err instanceof TooLarge || cause instanceof TooLarge) {
    return new GitHubError(
      'unexpected',
      `${what}: ${(cause instanceof TooLarge ? cause : (err as Error)).message}`,
    );
  }
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return new GitHubError('unavailable', `${what}: GitHub did not answer in time`);
  }
  if (err instanceof RequestError) {
    const status = err.status;
    const headers = (err.response?.headers ?? {}) as Record<string, unknown>;
    const retryAfter = retryAfterOf(headers, nowMs);
    const said = err.message.split('\n')[0]?.slice(0, 200) ?? '';
    const opts = retryAfter === undefined ? { status } : { status, retryAfter };
    if (status === 404) return new GitHubError('not_found', `${what}: GitHub answered 404`, opts);
    if (status === 401) {
      return new GitHubError(
        'unavailable',
        `${what}: GitHub refused the broker's token (401): set a valid token in ${tokenEnv}`,
        { ...opts, operatorError: true },
      );
    }
    const rateLimited =
      status === 429 ||
      (status === 403 &&
        (/rate limit/i.test(err.message) ||
          headers['retry-after'] !== undefined ||
          String(headers['x-ratelimit-remaining']) === '0'));
    if (rateLimited) {
      // GitHub asks for at least a minute after a secondary rate limit that names no Retry-After.
      const wait = retryAfter ?? (/secondary rate limit/i.test(err.message) ? 60 : undefined);
      return new GitHubError(
        'unavailable',
        `${what}: GitHub's rate limit (${status}): ${said}`,
        wait === undefined ? { status } : { status, retryAfter: wait },
      );
    }
    if (status >= 500 && err.response !== undefined) {
      return new GitHubError('unavailable', `${what}: GitHub answered ${status}`, opts);
    }
    if (err.response === undefined) {
      // octokit's status 500 for a request that got no answer at all (connection refused, reset, DNS).
      const why = cause instanceof Error ? cause.message : said;
      return new GitHubError('unavailable', `${what}: no answer from GitHub (${why})`, opts);
    }
    return new GitHubError('unexpected', `${what}: GitHub answered ${status}: ${said}`, opts);
  }
  return new GitHubError('unavailable', `${what}: no answer from GitHub (${String(err).slice(0, 200)})`);
}

function parsed<S extends z.ZodType>(schema: S, data: unknown, what: string): z.output<S> {
  const r = schema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new GitHubError(
      'unexpected',
      `${what}: GitHub's answer does not parse (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'not JSON'})`,
    );
  }
  return r.data;
}

function ownerAndName(repository: string): { owner: string; repo: string } {
  const slash = repository.indexOf('/');
  return { owner: repository.slice(0, slash), repo: repository.slice(slash + 1) };
}

/** The three questions the claim flow asks GitHub. */
export interface GitHubApi {
  runAttempt(repository: string, runId: number, attempt: number): Promise<WorkflowRun>;
  pull(repository: string, pullNumber: number): Promise<Pull>;
  /** The run's artifacts of exactly this name (GitHub filters by name; the caller checks the run too). */
  artifacts(repository: string, runId: number, name: string): Promise<Artifact[]>;
}

export class GitHub implements GitHubApi {
  private readonly octokit: Octokit;

  constructor(
    private readonly config: GitHubConfig,
    token: string,
    opts: GitHubOptions,
    log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.octokit = new Octokit({
      baseUrl: config.apiUrl,
      auth: token,
      userAgent: 'depot-oidc-broker',
      request: { fetch: boundedFetch(opts) },
      // One retry for a 5xx or a failed connection; never for a refusal, a 404 or a rate limit.
      retry: {
        retries: 1,
        retryAfterBaseValue: opts.retryDelayMs,
        doNotRetry: [400, 401, 403, 404, 409, 410, 422, 429, 451],
      },
      // A rate limit is never waited out here: the claim is asked again after GitHub's reset.
      throttle: { onRateLimit: () => false, onSecondaryRateLimit: () => false },
      log: {
        debug: () => undefined,
        info: () => undefined,
        warn: (msg: string) => log.debug({ event: 'github' }, msg),
        error: (msg: string) => log.debug({ event: 'github' }, msg),
      },
    });
  }

  private async get<S extends z.ZodType>(
    schema: S,
    what: string,
    route: string,
    params: Record<string, string | number | boolean>,
  ): Promise<z.output<S>> {
    let data: unknown;
    try {
      const res = await this.octokit.request(route, {
        ...params,
        headers: { 'x-github-api-version': '2022-11-28' },
      });
      data = res.data;
    } catch (err: unknown) {
      throw classify(err, what, this.config.tokenEnv, this.now());
    }
    return parsed(schema, data, what);
  }

  runAttempt(repository: string, runId: number, attempt: number): Promise<WorkflowRun> {
    return this.get(
      WorkflowRunSchema,
      `run ${runId} attempt ${attempt} of ${repository}`,
      'GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}',
      { ...ownerAndName(repository), run_id: runId, attempt_number: attempt, exclude_pull_requests: true },
    );
  }

  pull(repository: string, pullNumber: number): Promise<Pull> {
    return this.get(
      PullSchema,
      `pull request ${pullNumber} of ${repository}`,
      'GET /repos/{owner}/{repo}/pulls/{pull_number}',
      {
        ...ownerAndName(repository),
        pull_number: pullNumber,
      },
    );
  }

  async artifacts(repository: string, runId: number, name: string): Promise<Artifact[]> {
    const list = await this.get(
      ArtifactsSchema,
      `artifacts of run ${runId} of ${repository}`,
      'GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts',
      { ...ownerAndName(repository), run_id: runId, name, per_page: 100 },
    );
    return list.artifacts;
  }
}

/** The GitHub token for the config in force, or undefined when its variable is empty. */
export function githubToken(config: BrokerConfig, env: NodeJS.ProcessEnv): string | undefined {
  const token = env[config.github.tokenEnv];
  return token === undefined || token.trim() === '' ? undefined : token.trim();
}

/** The one start-up warning of a broker whose isolated projects cannot be served: no GitHub token. */
export function githubTokenWarning(config: BrokerConfig, env: NodeJS.ProcessEnv): string | undefined {
  const isolated = config.projects.filter((p) => p.forkPolicy === 'isolated');
  if (isolated.length === 0 || githubToken(config, env) !== undefined) return undefined;
  return `fork_policy isolated is set, but ${config.github.tokenEnv} is empty: fork pull request claims will answer 503 github_unavailable until it holds a GitHub token`;
}

/** One client per API URL and token, made when first needed (no GitHub request at start). */
export class GitHubClients {
  private current: { key: string; client: GitHubApi } | undefined;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly opts: GitHubOptions,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** The client for the config in force, or undefined when there is no token. */
  for(config: BrokerConfig): GitHubApi | undefined {
    const token = githubToken(config, this.env);
    if (token === undefined) return undefined;
    const key = `${config.github.apiUrl}\n${token}`;
    if (this.current?.key !== key) {
      this.current = { key, client: new GitHub(config.github, token, this.opts, this.log, this.now) };
    }
    return this.current.client;
  }
}
