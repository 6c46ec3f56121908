// A stand-in for the GitHub runner, close enough that the real action bundles cannot tell: it runs an action's
// main (and later its post) as a child process with the runner's env contract, applies GITHUB_ENV, GITHUB_PATH and
// GITHUB_STATE between steps as the runner does, parses GITHUB_OUTPUT's `name<<delimiter` blocks, and records
// `::add-mask::` values so tests can check that nothing secret was printed: neither those nor any token the tests'
// servers minted (secrets.ts), masked or not. The actions of this repository run from the bundles bundles.ts
// chooses: dist/ when `npm test` has checked it, else a fresh build of the sources.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runnableAction } from './bundles';
import { NODE24 } from './node24';
import { mintedSecretsIn } from './secrets';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export { NODE24 };

export interface EventSpec {
  name: string;
  payload: Record<string, unknown>;
}

export interface JobOptions {
  event?: EventSpec;
  /** Job-level env (the workflow's `env:`), e.g. DEPOT_BROKER_URL, ACTIONS_ID_TOKEN_REQUEST_URL. */
  env?: Record<string, string>;
  repository?: string;
  workspace?: string;
  /** Keep RUNNER_TOOL_CACHE across jobs (a warm tool cache). */
  toolCache?: string;
  /**
   * The Actions runtime a real runner gives every job, for artifacts: ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN
   * (masked, as the runner masks it), with the run's id and attempt (github-api.ts `runnerEnv`, its artifact service).
   */
  actionsRuntime?: ActionsRuntime;
  /**
   * Give the job its own DOCKER_CONFIG (an empty folder under the job's root, `Job.dockerConfig`), as each job of a
   * GitHub-hosted runner starts with a fresh docker config that a registry login writes into.
   */
  ownDockerConfig?: boolean;
}

export interface ActionsRuntime {
  resultsUrl: string;
  /** A JWT whose `scp` names `Actions.Results:<workflowRunBackendId>:<workflowJobRunBackendId>`. */
  runtimeToken: string;
  runId?: number;
  runAttempt?: number;
}

export interface StepOptions {
  inputs?: Record<string, string>;
  env?: Record<string, string>;
  /** Override the node the action's `runs.using` asks for (to run a node24 bundle under Node 20 too). */
  node?: string;
  cwd?: string;
}

export interface StepResult {
  action: string;
  phase: 'main' | 'post';
  exitCode: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

interface CompositeStep {
  id?: string;
  name?: string;
  shell?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
  'working-directory'?: string;
}

interface ActionYaml {
  inputs?: Record<string, { default?: unknown }>;
  outputs?: Record<string, { value?: string }>;
  runs: { using: string; main?: string; post?: string; 'post-if'?: string; steps?: CompositeStep[] };
}

interface PendingPost {
  action: string;
  entry: string;
  node: string;
  inputs: Record<string, string>;
  env: Record<string, string>;
  state: Record<string, string>;
  cwd?: string;
}

let stepCounter = 0;

export class Job {
  readonly root: string;
  readonly temp: string;
  readonly toolCache: string;
  readonly workspace: string;
  readonly eventPath: string;
  /** The job's own DOCKER_CONFIG (JobOptions.ownDockerConfig), else undefined: the machine's. */
  readonly dockerConfig: string | undefined;
  readonly githubToken = `ghs_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  /** Env the steps exported through GITHUB_ENV. */
  readonly exported: Record<string, string> = {};
  /** Directories the steps added through GITHUB_PATH, most recent first. */
  readonly paths: string[] = [];
  /** Every value registered with `::add-mask::`. */
  readonly masks = new Set<string>();
  readonly results: StepResult[] = [];
  private readonly posts: PendingPost[] = [];

  constructor(private readonly opts: JobOptions = {}) {
    this.root = mkdtempSync(join(tmpdir(), 'runner-'));
    this.temp = join(this.root, 'temp');
    this.toolCache = opts.toolCache ?? join(this.root, 'tool-cache');
    this.workspace = opts.workspace ?? join(this.root, 'workspace');
    for (const d of [this.temp, this.toolCache, this.workspace]) mkdirSync(d, { recursive: true });
    this.eventPath = join(this.root, 'event.json');
    this.dockerConfig = opts.ownDockerConfig ? join(this.root, 'docker-config') : undefined;
    if (this.dockerConfig) mkdirSync(this.dockerConfig, { recursive: true });
    writeFileSync(this.eventPath, JSON.stringify(opts.event?.payload ?? {}));
    this.masks.add(this.githubToken);
    if (opts.actionsRuntime) this.masks.add(opts.actionsRuntime.runtimeToken);
  }

  /** The env every step starts from: the machine's PATH and HOME, the runner's GITHUB_* and RUNNER_* variables. */
  baseEnv(): Record<string, string> {
    const repo = this.opts.repository ?? 'acme/web';
    const base: Record<string, string> = {
      PATH: [...this.paths, process.env.PATH ?? ''].join(delimiter),
      HOME: process.env.HOME ?? this.root,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_REPOSITORY: repo,
      GITHUB_REPOSITORY_OWNER: repo.split('/')[0] ?? '',
      GITHUB_EVENT_NAME: this.opts.event?.name ?? 'push',
      GITHUB_EVENT_PATH: this.eventPath,
      GITHUB_SHA: 'ffac537e6cbbf934b08745a378932722df287a53',
      GITHUB_REF: 'refs/heads/main',
      GITHUB_RUN_ID: '4242',
      GITHUB_RUN_NUMBER: '7',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_WORKFLOW: 'ci',
      GITHUB_JOB: 'build',
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_API_URL: 'https://api.github.com',
      GITHUB_WORKSPACE: this.workspace,
      RUNNER_OS: 'Linux',
      RUNNER_ARCH: 'X64',
      RUNNER_TEMP: this.temp,
      RUNNER_TOOL_CACHE: this.toolCache,
      ...(process.env.DOCKER_CONFIG ? { DOCKER_CONFIG: process.env.DOCKER_CONFIG } : {}),
      ...(this.dockerConfig ? { DOCKER_CONFIG: this.dockerConfig } : {}),
    };
    const rt = this.opts.actionsRuntime;
    if (rt) {
      base.ACTIONS_RESULTS_URL = rt.resultsUrl;
      base.ACTIONS_RUNTIME_TOKEN = rt.runtimeToken;
      // @actions/artifact takes any other server URL (a loopback one too) for GHES, and refuses to upload.
      base.GITHUB_SERVER_URL = 'https://github.com';
      if (rt.runId !== undefined) base.GITHUB_RUN_ID = String(rt.runId);
      if (rt.runAttempt !== undefined) base.GITHUB_RUN_ATTEMPT = String(rt.runAttempt);
    }
    return { ...base, ...(this.opts.env ?? {}), ...this.exported };
  }

  /** Runs the main of the action in the folder `action` (with action.yml) and queues its post. */
  async step(action: string, opts: StepOptions = {}): Promise<StepResult> {
    const actionDir = runnableAction(action);
    const yml = parseYaml(readFileSync(join(actionDir, 'action.yml'), 'utf8')) as ActionYaml;
    if (yml.runs.using === 'composite') return this.composite(actionDir, yml, opts);
    if (!yml.runs.using.startsWith('node') || !yml.runs.main) {
      throw new Error(`${actionDir}: runs.using ${yml.runs.using} is not a JavaScript action`);
    }
    const node = opts.node ?? (yml.runs.using === 'node24' ? NODE24 : process.execPath);
    const inputs = this.inputsWithDefaults(yml, opts.inputs ?? {});
    const env = { ...(opts.env ?? {}) };
    const main = resolve(actionDir, yml.runs.main);
    const result = await this.exec(action, 'main', main, node, inputs, env, {}, opts.cwd);
    if (yml.runs.post) {
      const post: PendingPost = {
        action,
        entry: resolve(actionDir, yml.runs.post),
        node,
        inputs,
        env,
        state: result.state,
      };
      if (opts.cwd) post.cwd = opts.cwd;
      this.posts.push(post);
    }
    return result.step;
  }

  /** A workflow `run:` step (`shell: bash`): the job's env, GITHUB_ENV and GITHUB_PATH applied after it. */
  async run(script: string, opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<StepResult> {
    const file = join(this.root, `run-${++stepCounter}.sh`);
    writeFileSync(file, script);
    const { step } = await this.exec('run', 'main', file, '/bin/bash', {}, opts.env ?? {}, {}, opts.cwd, [
      '--noprofile',
      '--norc',
      '-eo',
      'pipefail',
    ]);
    return step;
  }

  /**
   * A composite action: each `run` step goes through `bash -e {file}` as the runner runs `shell: bash`, with
   * `${{ inputs.* }}`, `${{ github.* }}`, `${{ runner.* }}`, `${{ env.* }}` and `${{ steps.<id>.outputs.* }}`
   * substituted, GITHUB_ACTION_PATH set, and GITHUB_ENV / GITHUB_PATH applied between steps. Stops at the first
   * failing step; the action's outputs come from its `outputs.*.value` expressions.
   */
  private async composite(actionDir: string, yml: ActionYaml, opts: StepOptions): Promise<StepResult> {
    const inputs = this.inputsWithDefaults(yml, opts.inputs ?? {});
    const stepOutputs: Record<string, Record<string, string>> = {};
    const combined: StepResult = {
      action: actionDir,
      phase: 'main',
      exitCode: 0,
      stdout: '',
      stderr: '',
      outputs: {},
      summary: '',
    };
    const expand = (text: string): string =>
      text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_m, expr: string) => {
        const env = this.baseEnv();
        const [scope, a, b, c] = expr.split('.');
        if (scope === 'inputs' && a !== undefined) return inputs[a] ?? '';
        if (expr === 'github.action_path') return actionDir;
        if (expr === 'github.token') return this.githubToken;
        if (expr === 'runner.temp') return this.temp;
        if (scope === 'env' && a !== undefined) return env[a] ?? '';
        if (scope === 'steps' && a !== undefined && b === 'outputs' && c !== undefined)
          return stepOutputs[a]?.[c] ?? '';
        throw new Error(`runner harness: unsupported expression \${{ ${expr} }} in ${actionDir}`);
      });
    for (const [i, step] of (yml.runs.steps ?? []).entries()) {
      if (step.uses)
        throw new Error(`runner harness: composite \`uses:\` steps are not supported (${actionDir})`);
      if (!step.run || step.shell !== 'bash') {
        throw new Error(`runner harness: composite step ${i} needs \`run\` and \`shell: bash\``);
      }
      const script = join(this.root, `composite-${++stepCounter}.sh`);
      writeFileSync(script, expand(step.run));
      const env: Record<string, string> = { ...(opts.env ?? {}), GITHUB_ACTION_PATH: actionDir };
      for (const [k, v] of Object.entries(step.env ?? {})) env[k] = expand(v);
      const cwd = step['working-directory']
        ? resolve(this.workspace, expand(step['working-directory']))
        : opts.cwd;
      const { step: result } = await this.exec(actionDir, 'main', script, '/bin/bash', {}, env, {}, cwd, [
        '--noprofile',
        '--norc',
        '-eo',
        'pipefail',
      ]);
      combined.stdout += result.stdout;
      combined.stderr += result.stderr;
      combined.summary += result.summary;
      if (step.id) stepOutputs[step.id] = result.outputs;
      if (result.exitCode !== 0) {
        combined.exitCode = result.exitCode;
        return combined;
      }
    }
    for (const [name, spec] of Object.entries(yml.outputs ?? {}))
      combined.outputs[name] = expand(spec.value ?? '');
    return combined;
  }

  /** Runs the queued post steps, last first, as the runner does at the end of a job. */
  async finish(): Promise<StepResult[]> {
    const out: StepResult[] = [];
    while (this.posts.length > 0) {
      const p = this.posts.pop() as PendingPost;
      out.push((await this.exec(p.action, 'post', p.entry, p.node, p.inputs, p.env, p.state, p.cwd)).step);
    }
    return out;
  }

  /** Everything the steps printed, with the `::add-mask::` command lines left out. */
  output(): string {
    return this.results
      .map((r) => `${r.stdout}\n${r.stderr}`)
      .join('\n')
      .split('\n')
      .filter((line) => !line.startsWith('::add-mask::'))
      .join('\n');
  }

  /**
   * The secret values that appear in any step's output: those given, those the steps masked, and every token the
   * tests' servers minted (secrets.ts), masked or not.
   */
  leakedSecrets(extra: string[] = []): string[] {
    const text = this.output();
    const given = [...this.masks, ...extra].filter((s) => s.length >= 4 && text.includes(s));
    return [...new Set([...given, ...mintedSecretsIn(text)])];
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private inputsWithDefaults(yml: ActionYaml, given: Record<string, string>): Record<string, string> {
    const inputs: Record<string, string> = {};
    for (const [name, spec] of Object.entries(yml.inputs ?? {})) {
      if (spec.default === undefined) continue;
      inputs[name] = String(spec.default).replace(/\$\{\{\s*github\.token\s*\}\}/g, this.githubToken);
    }
    return { ...inputs, ...given };
  }

  private exec(
    action: string,
    phase: 'main' | 'post',
    entry: string,
    node: string,
    inputs: Record<string, string>,
    stepEnv: Record<string, string>,
    state: Record<string, string>,
    cwd?: string,
    interpreterArgs: string[] = [],
  ): Promise<{ step: StepResult; state: Record<string, string> }> {
    const n = ++stepCounter;
    const files = {
      GITHUB_OUTPUT: join(this.root, `output-${n}`),
      GITHUB_STATE: join(this.root, `state-${n}`),
      GITHUB_ENV: join(this.root, `env-${n}`),
      GITHUB_PATH: join(this.root, `path-${n}`),
      GITHUB_STEP_SUMMARY: join(this.root, `summary-${n}`),
    };
    for (const f of Object.values(files)) writeFileSync(f, '');
    const env: Record<string, string> = { ...this.baseEnv(), ...stepEnv, ...files };
    for (const [name, value] of Object.entries(inputs))
      env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
    for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value;
    return new Promise((resolvePromise, reject) => {
      const child = spawn(node, [...interpreterArgs, entry], {
        cwd: cwd ?? this.workspace,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => {
        for (const line of stdout.split('\n')) {
          const m = /^::add-mask::(.*)$/.exec(line.trimEnd());
          // The value as the runner reads it: @actions/core escapes %, CR and LF in command values.
          if (m?.[1]) this.masks.add(unescapeCommandValue(m[1]));
        }
        Object.assign(this.exported, parseFileCommand(readFileSync(files.GITHUB_ENV, 'utf8')));
        const added = readFileSync(files.GITHUB_PATH, 'utf8').split('\n').filter(Boolean);
        this.paths.unshift(...added.reverse());
        const step: StepResult = {
          action,
          phase,
          exitCode: code ?? 1,
          stdout,
          stderr,
          outputs: parseFileCommand(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
          summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
        };
        this.results.push(step);
        resolvePromise({ step, state: parseFileCommand(readFileSync(files.GITHUB_STATE, 'utf8')) });
      });
    });
  }
}

/** A workflow command's value as the runner reads it (@actions/core's toCommandValue escaping undone). */
export function unescapeCommandValue(value: string): string {
  return value.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

/**
 * Parses a file command (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STATE) as the runner does: `name<<DELIM` blocks as
 * @actions/core writes them, and plain `name=value` lines.
 */
export function parseFileCommand(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line === '') continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i] ?? '');
      if (i >= lines.length) throw new Error(`file command: no closing delimiter for ${name}`);
      out[name] = value.join('\n');
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`file command: unreadable line "${line}"`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** A real-shaped event payload from @octokit/webhooks-examples. */
export function examplePayload(event: string, pick: (p: Record<string, unknown>) => boolean = () => true) {
  const file = join(ROOT, 'node_modules', '@octokit', 'webhooks-examples', 'api.github.com', 'index.json');
  const all = JSON.parse(readFileSync(file, 'utf8')) as Array<{
    name: string;
    examples: Record<string, unknown>[];
  }>;
  const found = all.find((e) => e.name === event)?.examples.find(pick);
  if (!found) throw new Error(`no ${event} example in @octokit/webhooks-examples`);
  return structuredClone(found);
}

export interface ForkPullRequest {
  /** The base repository, owner/name. */
  repository: string;
  /** The fork, owner/name (another owner). */
  fork: string;
  number: number;
  headSha: string;
  headRef?: string;
  repositoryId?: number;
  forkId?: number;
}

/**
 * A real `pull_request` (opened) payload from @octokit/webhooks-examples with its base moved to `repository`
 * (public) and its head to `fork`: head.repo is another owner's repository with `fork: true`.
 */
export function forkPullRequestPayload(pr: ForkPullRequest): Record<string, unknown> {
  const payload = examplePayload('pull_request', (p) => p.action === 'opened') as {
    number: number;
    pull_request: Record<string, unknown> & { head: Record<string, unknown>; base: Record<string, unknown> };
    repository: Record<string, unknown>;
  };
  const moved = (repo: unknown, fullName: string, id: number, fork: boolean) => {
    const [owner = '', name = ''] = fullName.split('/');
    const r = repo as Record<string, unknown>;
    return {
      ...r,
      id,
      name,
      full_name: fullName,
      fork,
      private: false,
      visibility: 'public',
      html_url: `https://github.com/${fullName}`,
      url: `https://api.github.com/repos/${fullName}`,
      owner: { ...(r.owner as Record<string, unknown>), login: owner },
    };
  };
  const baseRepo = moved(payload.repository, pr.repository, pr.repositoryId ?? 123456, false);
  const forkRepo = moved(payload.pull_request.head.repo, pr.fork, pr.forkId ?? 654321, true);
  const headRef = pr.headRef ?? 'patch-1';
  const forkOwner = pr.fork.split('/')[0] ?? '';
  payload.number = pr.number;
  payload.repository = baseRepo;
  payload.pull_request = {
    ...payload.pull_request,
    number: pr.number,
    url: `https://api.github.com/repos/${pr.repository}/pulls/${pr.number}`,
    html_url: `https://github.com/${pr.repository}/pull/${pr.number}`,
    head: {
      ...payload.pull_request.head,
      label: `${forkOwner}:${headRef}`,
      ref: headRef,
      sha: pr.headSha,
      user: { ...(payload.pull_request.head.user as Record<string, unknown>), login: forkOwner },
      repo: forkRepo,
    },
    base: {
      ...payload.pull_request.base,
      label: `${pr.repository.split('/')[0] ?? ''}:main`,
      ref: 'main',
      repo: baseRepo,
    },
  };
  return payload as unknown as Record<string, unknown>;
}

export function ensureDir(file: string): string {
  mkdirSync(dirname(file), { recursive: true });
  return file;
}

export { existsSync };
