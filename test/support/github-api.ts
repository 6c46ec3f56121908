// The GitHub stand-in: one run model (github-runs.ts) served two ways, as github.com serves it.
// - The REST API the broker asks (its `github.api_url`): a workflow run attempt, a pull request, a run's artifacts,
//   with the real payloads' shapes (built from @octokit/webhooks-examples), GitHub's JSON 404 and 401, and the
//   broker's `Authorization: token <BROKER_GITHUB_TOKEN>` (or `Bearer`) checked on every request.
// - The Actions artifact service the real @actions/artifact in a bundle uploads to (artifact-service.ts); what it
//   stores for a run is what the REST API lists for that run.
// `runnerEnv(run)` is the env a real runner gives a job of that run for artifacts. Failures are injected per
// operation: `api.faults.failNext('getRunAttempt' | 'getPull' | 'listArtifacts', status)`.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startArtifactService } from './artifact-service';
import type { ArtifactService } from './artifact-service';
import { Faults, GithubRuns } from './github-runs';
import type { PullRequest, Run, RunSpec, StoredArtifact } from './github-runs';
import { examplePayload } from './runner';
import { mintedSecret } from './secrets';

export type { PullRequest, Run, RunSpec, StoredArtifact } from './github-runs';

export interface GithubApi {
  /** http://127.0.0.1:PORT : the broker's `github.api_url`. */
  url: string;
  /** The token the broker must send (its BROKER_GITHUB_TOKEN). */
  token: string;
  faults: Faults;
  /** Every request, `METHOD path?query`, in order. */
  requests: string[];
  close(): Promise<void>;
}

export interface GithubStandIn {
  runs: GithubRuns;
  api: GithubApi;
  artifacts: ArtifactService;
  addRun(spec: RunSpec): Run;
  /** The env a runner gives a job of `run` for artifacts: ACTIONS_RESULTS_URL, ACTIONS_RUNTIME_TOKEN, the run ids. */
  runnerEnv(run: Run): Record<string, string>;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const DOCS = 'https://docs.github.com/rest';

/** A repository object as the REST API nests it, from the example payload's, renamed. */
function repositoryJson(
  template: Json,
  fullName: string,
  id: number,
  isPrivate: boolean,
  fork: boolean,
): Json {
  const [owner = '', name = ''] = fullName.split('/');
  const api = `https://api.github.com/repos/${fullName}`;
  const out: Json = {};
  for (const [k, v] of Object.entries(template)) {
    out[k] =
      typeof v === 'string' ? v.replaceAll(/https:\/\/api\.github\.com\/repos\/[^/{]+\/[^/{]+/g, api) : v;
  }
  return {
    ...out,
    id,
    node_id: Buffer.from(`010:Repository${id}`).toString('base64'),
    name,
    full_name: fullName,
    private: isPrivate,
    fork,
    owner: { ...(template.owner as Json), login: owner, url: `https://api.github.com/users/${owner}` },
    html_url: `https://github.com/${fullName}`,
    url: api,
  };
}

function runJson(run: Run, api: string): Json {
  const example = (examplePayload('workflow_run') as { workflow_run: Json }).workflow_run;
  const repo = (example.repository ?? {}) as Json;
  const fork = run.headRepository.toLowerCase() !== run.repository.toLowerCase();
  const runUrl = `${api}/repos/${run.repository}/actions/runs/${run.runId}`;
  return {
    ...example,
    id: run.runId,
    node_id: Buffer.from(`011:WorkflowRun${run.runId}`).toString('base64'),
    name: 'ci',
    display_title: 'ci',
    head_branch: run.headBranch,
    head_sha: run.headSha,
    path: '.github/workflows/ci.yml',
    run_number: 7,
    run_attempt: run.attempt,
    event: run.event,
    status: run.status,
    conclusion: run.status === 'completed' ? 'success' : null,
    created_at: run.createdAt,
    run_started_at: run.createdAt,
    updated_at: new Date().toISOString(),
    url: runUrl,
    html_url: `https://github.com/${run.repository}/actions/runs/${run.runId}`,
    jobs_url: `${runUrl}/jobs`,
    logs_url: `${runUrl}/logs`,
    artifacts_url: `${runUrl}/artifacts`,
    cancel_url: `${runUrl}/cancel`,
    rerun_url: `${runUrl}/rerun`,
    previous_attempt_url: run.attempt > 1 ? `${runUrl}/attempts/${run.attempt - 1}` : null,
    // GitHub lists no pull requests on a run whose head is in a fork.
    pull_requests:
      fork || run.pullRequest === undefined
        ? []
        : [
            {
              id: run.pullRequest,
              number: run.pullRequest,
              url: `${api}/repos/${run.repository}/pulls/${run.pullRequest}`,
              head: { ref: run.headBranch, sha: run.headSha, repo: { id: run.headRepositoryId } },
              base: { ref: 'main', sha: randomBytes(20).toString('hex'), repo: { id: run.repositoryId } },
            },
          ],
    head_commit: { ...(example.head_commit as Json), id: run.headSha, tree_id: run.headSha },
    repository: repositoryJson(repo, run.repository, run.repositoryId, run.private, false),
    head_repository: repositoryJson(repo, run.headRepository, run.headRepositoryId, run.private, fork),
  };
}

function pullJson(pull: PullRequest, runs: GithubRuns): Json {
  const example = (examplePayload('pull_request') as { pull_request: Json }).pull_request;
  const head = example.head as Json;
  const base = example.base as Json;
  const baseRun = runs.runs.find((r) => r.repository.toLowerCase() === pull.repository.toLowerCase());
  const fork = pull.headRepository.toLowerCase() !== pull.repository.toLowerCase();
  const baseId = baseRun?.repositoryId ?? 123456;
  const headId = fork ? (baseRun?.headRepositoryId ?? 654321) : baseId;
  const isPrivate = baseRun?.private ?? false;
  const url = `https://api.github.com/repos/${pull.repository}/pulls/${pull.number}`;
  return {
    ...example,
    url,
    number: pull.number,
    state: pull.state,
    html_url: `https://github.com/${pull.repository}/pull/${pull.number}`,
    head: {
      ...head,
      label: `${pull.headRepository.split('/')[0] ?? ''}:${pull.headRef}`,
      ref: pull.headRef,
      sha: pull.headSha,
      user: { ...(head.user as Json), login: pull.headRepository.split('/')[0] ?? '' },
      repo: repositoryJson(head.repo as Json, pull.headRepository, headId, isPrivate, fork),
    },
    base: {
      ...base,
      label: `${pull.repository.split('/')[0] ?? ''}:${pull.baseRef}`,
      ref: pull.baseRef,
      user: { ...(base.user as Json), login: pull.repository.split('/')[0] ?? '' },
      repo: repositoryJson(base.repo as Json, pull.repository, baseId, isPrivate, false),
    },
  };
}

function artifactJson(a: StoredArtifact, api: string): Json {
  const url = `${api}/repos/${a.run.repository}/actions/artifacts/${a.id}`;
  return {
    id: a.id,
    node_id: Buffer.from(`010:Artifact${a.id}`).toString('base64'),
    name: a.name,
    size_in_bytes: a.size,
    url,
    archive_download_url: `${url}/zip`,
    expired: Date.parse(a.expiresAt) < Date.now(),
    digest: a.digest ?? null,
    created_at: a.createdAt,
    updated_at: a.createdAt,
    expires_at: a.expiresAt,
    workflow_run: {
      id: a.run.runId,
      repository_id: a.run.repositoryId,
      head_repository_id: a.run.headRepositoryId,
      head_branch: a.run.headBranch,
      head_sha: a.run.headSha,
    },
  };
}

export async function startGithubApi(runs: GithubRuns): Promise<GithubApi> {
  const token = `ghs_${randomBytes(18).toString('base64url')}`;
  mintedSecret(token);
  const faults = new Faults();
  const requests: string[] = [];
  let base = '';

  const send = (res: ServerResponse, status: number, json: unknown) => {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
      'x-github-api-version-selected': '2022-11-28',
    });
    res.end(JSON.stringify(json));
  };
  const notFound = (res: ServerResponse, doc: string) =>
    send(res, 404, { message: 'Not Found', documentation_url: `${DOCS}/${doc}`, status: '404' });

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://api');
    requests.push(`${req.method ?? 'GET'} ${url.pathname}${url.search}`);
    const auth = /^(?:token|Bearer) (\S+)$/i.exec(req.headers.authorization ?? '');
    if (auth?.[1] !== token) {
      return send(res, 401, { message: 'Bad credentials', documentation_url: DOCS, status: '401' });
    }
    if (req.method !== 'GET') return notFound(res, '');
    const repo = '/repos/([^/]+)/([^/]+)';
    const routes: Array<[string, RegExp, (m: string[]) => void]> = [
      [
        'getRunAttempt',
        new RegExp(`^${repo}/actions/runs/(\\d+)/attempts/(\\d+)$`),
        ([owner, name, id, attempt]) => {
          const run = runs.run(`${owner}/${name}`, Number(id), Number(attempt));
          if (!run) return notFound(res, 'actions/workflow-runs#get-a-workflow-run-attempt');
          const json = runJson(run, base);
          if (url.searchParams.get('exclude_pull_requests') === 'true') json.pull_requests = [];
          send(res, 200, json);
        },
      ],
      [
        'getRun',
        new RegExp(`^${repo}/actions/runs/(\\d+)$`),
        ([owner, name, id]) => {
          const run = runs.run(`${owner}/${name}`, Number(id));
          if (!run) return notFound(res, 'actions/workflow-runs#get-a-workflow-run');
          send(res, 200, runJson(run, base));
        },
      ],
      [
        'getPull',
        new RegExp(`^${repo}/pulls/(\\d+)$`),
        ([owner, name, number]) => {
          const pull = runs.pull(`${owner}/${name}`, Number(number));
          if (!pull) return notFound(res, 'pulls/pulls#get-a-pull-request');
          send(res, 200, pullJson(pull, runs));
        },
      ],
      [
        'listArtifacts',
        new RegExp(`^${repo}/actions/runs/(\\d+)/artifacts$`),
        ([owner, name, id]) => {
          const repository = `${owner}/${name}`;
          if (!runs.run(repository, Number(id))) {
            return notFound(res, 'actions/artifacts#list-workflow-run-artifacts');
          }
          const wanted = url.searchParams.get('name');
          const all = runs
            .artifactsOf(repository, Number(id))
            .filter((a) => wanted === null || a.name === wanted)
            .sort((a, b) => b.id - a.id);
          const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 30) || 30);
          const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
          const artifacts = all.slice((page - 1) * perPage, page * perPage).map((a) => artifactJson(a, base));
          send(res, 200, { total_count: all.length, artifacts });
        },
      ],
    ];
    for (const [operation, re, handler] of routes) {
      const m = re.exec(url.pathname);
      if (!m) continue;
      const injected = faults.take(operation);
      if (injected !== undefined) {
        return send(res, injected, {
          message: injected === 403 ? 'Resource not accessible by integration' : `injected ${injected}`,
          documentation_url: DOCS,
          status: String(injected),
        });
      }
      return handler(m.slice(1).map((s) => decodeURIComponent(s)));
    }
    return notFound(res, '');
  };

  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      try {
        handle(req, res);
      } catch (err: unknown) {
        send(res, 500, { message: String(err), documentation_url: DOCS, status: '500' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    token,
    faults,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The GitHub stand-in: the run model, its REST API and its artifact service. */
export async function startGithub(): Promise<GithubStandIn> {
  const runs = new GithubRuns();
  const api = await startGithubApi(runs);
  const artifacts = await startArtifactService(runs);
  return {
    runs,
    api,
    artifacts,
    addRun: (spec) => runs.addRun(spec),
    runnerEnv: (run) => ({
      ACTIONS_RESULTS_URL: artifacts.url,
      ACTIONS_RUNTIME_TOKEN: run.runtimeToken,
      // @actions/artifact refuses a GITHUB_SERVER_URL that is not github.com (or *.ghe.com) as GHES.
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: run.repository,
      GITHUB_RUN_ID: String(run.runId),
      GITHUB_RUN_ATTEMPT: String(run.attempt),
    }),
    close: async () => {
      await api.close();
      await artifacts.close();
    },
  };
}
