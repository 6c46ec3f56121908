// A stand-in for GitHub running a reusable workflow (`on: workflow_call`) for a caller, on top of the runner
// harness (runner.ts): it reads the workflow YAML itself and runs it as GitHub would.
// - The call: `with:` checked against the declared inputs (a missing required or an undeclared input, or a value of
//   another type, is an error; defaults applied, their expressions evaluated), `secrets` likewise, the event (name,
//   payload), GITHUB_SHA, GITHUB_REF and GITHUB_WORKFLOW_REF (the caller's workflow).
// - Jobs in `needs` order (independent jobs at once), each job's `if:` (default `success()`; the status functions
//   success(), failure(), always(), cancelled(), and `needs.<job>.result`): a job whose `if` is false is skipped, and
//   so is, by the default `success()`, a job whose needs were skipped or failed.
// - `strategy.matrix` (a mapping or `${{ fromJSON(...) }}`, with include/exclude), each leg its own Job (own
//   workspace, own DOCKER_CONFIG), `fail-fast` and `max-parallel`; an empty matrix fails the job as GitHub does.
// - Steps: `if:`, `with:`, `env:`, `continue-on-error`, `uses:` and bash `run:`; post steps at the end of the job;
//   job outputs from step outputs; the workflow's outputs from `jobs.<id>.outputs`.
// Every `${{ }}` is evaluated by @actions/expressions with only the contexts GitHub offers at that place. `uses:`
// resolves `<owner>/<repo>/actions/<name>@<ref>` (package.json `repository`) to this repository's actions/<name>
// (bundles.ts picks the bundle), actions/checkout and docker/login-action to the stand-ins in standins/actions;
// anything else is an error naming it. Nothing about the workflow is known here: every value comes from its YAML and
// the caller's with, secrets and event.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { data, Evaluator, Lexer, Parser } from '@actions/expressions';
import type { Expr } from '@actions/expressions';
import { parse as parseYaml } from 'yaml';
import { repositoryName } from '../../shared/identity';
import { Job, ROOT } from './runner';
import type { ActionsRuntime, EventSpec, StepResult } from './runner';

export const STANDIN_ACTIONS = resolve(import.meta.dirname, 'standins', 'actions');

/** What a caller's job with `uses: <workflow>` gives GitHub. */
export interface WorkflowCall {
  /** The called workflow's YAML file. */
  workflow: string;
  /** The caller's `with:` (values already evaluated by the caller, with their YAML types). */
  with?: Record<string, string | number | boolean>;
  /** The caller's `secrets:`. */
  secrets?: Record<string, string>;
  /** The caller's `permissions:`: a called workflow's jobs get at most these (id-token: write gives them OIDC). */
  permissions?: Record<string, string>;
  /** The event that started the caller's run. */
  event: EventSpec;
  /** owner/name: GITHUB_REPOSITORY. */
  repository: string;
  /** GITHUB_SHA and GITHUB_REF of the run. */
  sha: string;
  ref: string;
  /** The caller's workflow: its name (GITHUB_WORKFLOW) and ref, `owner/name/.github/workflows/ci.yml@refs/heads/main`. */
  caller: { name: string; ref: string };
  /** The run: GITHUB_RUN_ID / GITHUB_RUN_NUMBER / GITHUB_RUN_ATTEMPT (the Actions runtime's run id when it has one). */
  run?: { id?: number; number?: number; attempt?: number };
  /** The folder holding `<owner>/<name>` git repositories the checkout stand-in fetches from. */
  gitServer?: string;
  /** The runner's OIDC endpoint, given to the jobs granted `id-token: write`. */
  idToken?: { url: string; token: string };
  /** The Actions runtime every job of the run gets (artifacts): one run, shared by all its jobs. */
  actionsRuntime?: ActionsRuntime;
  /** One RUNNER_TOOL_CACHE for all jobs (a warm runner image), else each job its own. */
  toolCache?: string;
  /** More machine env for every job (as a runner image sets). */
  env?: Record<string, string>;
}

export type JobResult = 'success' | 'failure' | 'cancelled' | 'skipped';

export interface StepRecord {
  id?: string;
  name: string;
  outcome: 'success' | 'failure' | 'skipped';
  conclusion: 'success' | 'failure' | 'skipped';
  outputs: Record<string, string>;
  result?: StepResult;
  error?: string;
}

/** One job of the run: a plain job, or one leg of a matrix job. */
export interface LegRun {
  jobId: string;
  name: string;
  matrix?: Record<string, unknown>;
  result: JobResult;
  steps: StepRecord[];
  post: StepResult[];
  outputs: Record<string, string>;
  /** Why the leg failed outside any step (an expression error, an empty matrix). */
  error?: string;
  job?: Job;
}

export interface JobRun {
  id: string;
  result: JobResult;
  outputs: Record<string, string>;
  legs: LegRun[];
  error?: string;
}

export interface WorkflowRunResult {
  result: 'success' | 'failure';
  jobs: Record<string, JobRun>;
  outputs: Record<string, string>;
  /** The legs that ran (had a Job), in the order they finished. */
  legs: LegRun[];
  /** Every leg's output, each under a `=== job: <name> ===` line. */
  output(): string;
  /** The secrets any job printed: every job's masks, the run's secrets and every token the servers minted. */
  leakedSecrets(extra?: string[]): string[];
  cleanup(): void;
}

interface WorkflowYaml {
  name?: string;
  on?: { workflow_call?: WorkflowCallSpec } | string | string[];
  env?: Record<string, unknown>;
  permissions?: Permissions;
  jobs?: Record<string, JobYaml>;
}

interface WorkflowCallSpec {
  inputs?: Record<string, { type?: string; required?: boolean; default?: unknown }>;
  secrets?: Record<string, { required?: boolean }>;
  outputs?: Record<string, { value?: string }>;
}

type Permissions = Record<string, string> | 'read-all' | 'write-all';

interface JobYaml {
  name?: string;
  needs?: string | string[];
  if?: string | boolean;
  'runs-on'?: unknown;
  permissions?: Permissions;
  strategy?: { matrix?: unknown; 'fail-fast'?: boolean | string; 'max-parallel'?: number | string };
  outputs?: Record<string, string>;
  env?: Record<string, unknown>;
  steps?: StepYaml[];
  'timeout-minutes'?: number;
}

interface StepYaml {
  id?: string;
  name?: string;
  if?: string | boolean;
  uses?: string;
  run?: string;
  shell?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  'working-directory'?: string;
  'continue-on-error'?: boolean | string;
}

const JOB_KEYS = new Set([
  'name',
  'needs',
  'if',
  'runs-on',
  'permissions',
  'strategy',
  'outputs',
  'env',
  'steps',
  'timeout-minutes',
]);
const STEP_KEYS = new Set([
  'id',
  'name',
  'if',
  'uses',
  'run',
  'shell',
  'with',
  'env',
  'working-directory',
  'continue-on-error',
  'timeout-minutes',
]);

// --- expressions -------------------------------------------------------------------------------------------------

type Contexts = Record<string, unknown>;

/** The state the status functions read: whether something before has failed, and whether the run was cancelled. */
interface Status {
  failed: boolean;
  /** For a job's `if`: every need succeeded (a skipped need is not a success). */
  succeeded: boolean;
}

const STATUS_FUNCTIONS = ['success', 'failure', 'always', 'cancelled'] as const;

/** A JavaScript value as expression data (objects and arrays deeply; data values kept as they are). */
export function toData(value: unknown): data.ExpressionData {
  return JSON.parse(JSON.stringify(value ?? null, data.replacer), data.reviver) as data.ExpressionData;
}

/** Expression data as a plain JavaScript value. */
export function fromData(value: data.ExpressionData): unknown {
  return JSON.parse(JSON.stringify(value, data.replacer)) as unknown;
}

/** Evaluates one expression (the text inside `${{ }}`) with `contexts`, and the status functions when given. */
export function evaluate(source: string, contexts: Contexts, status?: Status): data.ExpressionData {
  const lexed = new Lexer(source).lex();
  const functions = status
    ? STATUS_FUNCTIONS.map((name) => ({ name, minArgs: 0, maxArgs: 0 }))
    : ([] as Array<{ name: string; minArgs: number; maxArgs: number }>);
  let expr: Expr;
  try {
    expr = new Parser(lexed.tokens, Object.keys(contexts), functions).parse();
  } catch (err: unknown) {
    throw new Error(`\${{ ${source} }}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const calls = new Map(
    status
      ? [
          ['success', () => new data.BooleanData(status.succeeded && !status.failed)],
          ['failure', () => new data.BooleanData(status.failed)],
          ['always', () => new data.BooleanData(true)],
          ['cancelled', () => new data.BooleanData(false)],
        ].map(([name, call]) => [
          name as string,
          { name: name as string, minArgs: 0, maxArgs: 0, call: call as () => data.ExpressionData },
        ])
      : [],
  );
  const dict = new data.Dictionary(
    ...Object.entries(contexts).map(([key, v]) => ({ key, value: toData(v) })),
  );
  try {
    return new Evaluator(expr, dict, calls).evaluate();
  } catch (err: unknown) {
    throw new Error(`\${{ ${source} }}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The `${{ ... }}` spans of a value: [start, end) of each, `end` after its `}}` (quotes inside respected). */
function expressionSpans(text: string): Array<{ start: number; end: number; source: string }> {
  const spans: Array<{ start: number; end: number; source: string }> = [];
  let i = text.indexOf('${{');
  while (i !== -1) {
    let j = i + 3;
    let quoted = false;
    for (; j < text.length; j++) {
      if (text[j] === "'") quoted = !quoted;
      else if (!quoted && text.startsWith('}}', j)) break;
    }
    if (j >= text.length) throw new Error(`unclosed \${{ in ${JSON.stringify(text)}`);
    spans.push({ start: i, end: j + 2, source: text.slice(i + 3, j).trim() });
    i = text.indexOf('${{', j + 2);
  }
  return spans;
}

/**
 * A YAML value with its `${{ }}` evaluated: a string that is one expression keeps the expression's type (an object
 * from fromJSON, a boolean); a string with text around expressions is their strings joined; mappings and sequences
 * deeply; other scalars as they are.
 */
export function interpolate(value: unknown, contexts: Contexts): unknown {
  if (Array.isArray(value)) return value.map((v) => interpolate(v, contexts));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, contexts)]));
  }
  if (typeof value !== 'string') return value;
  const spans = expressionSpans(value);
  if (spans.length === 0) return value;
  const only = spans[0];
  if (spans.length === 1 && only && only.start === 0 && only.end === value.length) {
    return fromData(evaluate(only.source, contexts));
  }
  let out = '';
  let at = 0;
  for (const s of spans) {
    out += value.slice(at, s.start) + evaluate(s.source, contexts).coerceString();
    at = s.end;
  }
  return out + value.slice(at);
}

/** A value as a string, as GitHub passes `with:` and `env:` values on (booleans and numbers as their text). */
function asString(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return toData(value).coerceString();
}

function interpolateString(value: unknown, contexts: Contexts): string {
  return asString(interpolate(value, contexts));
}

function interpolateMap(
  map: Record<string, unknown> | undefined,
  contexts: Contexts,
): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).map(([k, v]) => [k, interpolateString(v, contexts)]));
}

/**
 * An `if:` condition as GitHub reads it: `${{ }}` around it optional, and `success() && (...)` put in front unless
 * it calls a status function itself.
 */
export function condition(value: string | boolean | undefined, contexts: Contexts, status: Status): boolean {
  if (value === undefined) return evaluate('success()', contexts, status).coerceString() === 'true';
  if (typeof value === 'boolean') return value && !status.failed && status.succeeded;
  let source = value.trim();
  const spans = expressionSpans(source);
  const only = spans[0];
  if (spans.length === 1 && only && only.start === 0 && only.end === source.length) source = only.source;
  else if (spans.length > 0) throw new Error(`if: ${JSON.stringify(value)} mixes \${{ }} with text`);
  const withoutStrings = source.replace(/'(?:[^']|'')*'/g, "''");
  const usesStatus = new RegExp(`\\b(${STATUS_FUNCTIONS.join('|')})\\s*\\(`, 'i').test(withoutStrings);
  const full = usesStatus ? source : `success() && (${source})`;
  const result = evaluate(full, contexts, status);
  return !(
    result.kind === data.Kind.Null ||
    (result.kind === data.Kind.Boolean && !result.value) ||
    (result.kind === data.Kind.String && result.coerceString() === '') ||
    (result.kind === data.Kind.Number && (result.number() === 0 || Number.isNaN(result.number())))
  );
}

// --- the matrix --------------------------------------------------------------------------------------------------

/** The legs of a matrix as GitHub expands it: the product of its vectors, less `exclude`, with `include` merged. */
export function expandMatrix(matrix: unknown): Array<Record<string, unknown>> {
  if (matrix === null || typeof matrix !== 'object' || Array.isArray(matrix)) {
    throw new Error(`strategy.matrix is not a mapping: ${JSON.stringify(matrix)}`);
  }
  const { include = [], exclude = [], ...vectors } = matrix as Record<string, unknown>;
  if (!Array.isArray(include) || !Array.isArray(exclude)) {
    throw new Error('strategy.matrix include and exclude must be sequences');
  }
  let legs: Array<Record<string, unknown>> = [];
  const keys = Object.keys(vectors);
  if (keys.length > 0) {
    legs = [{}];
    for (const key of keys) {
      const values = vectors[key];
      if (!Array.isArray(values)) throw new Error(`strategy.matrix.${key} is not a sequence`);
      legs = legs.flatMap((leg) => values.map((v: unknown) => ({ ...leg, [key]: v })));
    }
  }
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  legs = legs.filter(
    (leg) =>
      !exclude.some((ex: unknown) =>
        Object.entries(ex as Record<string, unknown>).every(([k, v]) => same(leg[k], v)),
      ),
  );
  // Each include entry is merged into every original combination whose original values it does not change; one
  // that fits none is a combination of its own (never merged into by later entries).
  const originals = legs.map((leg) => ({ ...leg }));
  const added: Array<Record<string, unknown>> = [];
  for (const entry of include as Array<Record<string, unknown>>) {
    let matched = false;
    originals.forEach((original, i) => {
      const fits = Object.entries(entry).every(([k, v]) => !(k in original) || same(original[k], v));
      if (fits) {
        Object.assign(legs[i] ?? {}, entry);
        matched = true;
      }
    });
    if (!matched) added.push({ ...entry });
  }
  legs.push(...added);
  return legs;
}

// --- uses: -------------------------------------------------------------------------------------------------------

/** The folder of the action a `uses:` names, or an error naming it. */
export function resolveUses(uses: string): string {
  const ours = new RegExp(
    `^${repositoryName().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/actions/([a-z0-9-]+)@.+$`,
  );
  const mine = ours.exec(uses);
  if (mine?.[1]) {
    const dir = join(ROOT, 'actions', mine[1]);
    if (!existsSync(join(dir, 'action.yml'))) throw new Error(`uses: ${uses}: no action ${dir}/action.yml`);
    return dir;
  }
  if (/^actions\/checkout@[^/]+$/.test(uses)) return join(STANDIN_ACTIONS, 'checkout');
  if (/^docker\/login-action@[^/]+$/.test(uses)) return join(STANDIN_ACTIONS, 'docker-login');
  throw new Error(`uses: ${uses}: the workflow runner has no action or stand-in for it`);
}

// --- the call ----------------------------------------------------------------------------------------------------

/** The `inputs` context: the caller's with checked against the declared inputs, defaults applied. */
export function callInputs(spec: WorkflowCallSpec, given: Record<string, unknown>, github: Contexts) {
  const declared = spec.inputs ?? {};
  for (const name of Object.keys(given)) {
    if (!(name in declared))
      throw new Error(`Invalid input, ${name} is not defined in the referenced workflow.`);
  }
  const inputs: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(declared)) {
    const type = def.type ?? 'string';
    if (!['string', 'boolean', 'number'].includes(type))
      throw new Error(`input ${name}: unknown type ${type}`);
    if (name in given) {
      const v = given[name];
      if (typeof v !== type) {
        throw new Error(
          `input ${name}: the workflow declares ${type}, the caller gave ${typeof v} ${JSON.stringify(v)}`,
        );
      }
      inputs[name] = v;
      continue;
    }
    if (def.required) throw new Error(`Input ${name} is required, but not provided while calling.`);
    const d = interpolate(def.default, { github, inputs: {}, vars: {} });
    if (d === undefined || d === null) inputs[name] = type === 'boolean' ? false : type === 'number' ? 0 : '';
    else if (type === 'boolean') inputs[name] = d === true || d === 'true';
    else if (type === 'number') inputs[name] = Number(d);
    else inputs[name] = asString(d);
  }
  return inputs;
}

export function callSecrets(spec: WorkflowCallSpec, given: Record<string, string>): Record<string, string> {
  const declared = spec.secrets ?? {};
  for (const name of Object.keys(given)) {
    if (!(name in declared))
      throw new Error(`Invalid secret, ${name} is not defined in the referenced workflow.`);
  }
  for (const [name, def] of Object.entries(declared)) {
    if (def.required && !given[name])
      throw new Error(`Secret ${name} is required, but not provided while calling.`);
  }
  return { ...given };
}

function permissionOf(p: Permissions | undefined, scope: string): string {
  if (p === undefined) return 'none';
  if (p === 'read-all') return 'read';
  if (p === 'write-all') return 'write';
  return p[scope] ?? 'none';
}

function needsOf(job: JobYaml): string[] {
  if (job.needs === undefined) return [];
  return Array.isArray(job.needs) ? job.needs : [job.needs];
}

/** Runs the called workflow for `call`; throws for what GitHub refuses before any job starts. */
export async function runWorkflow(call: WorkflowCall): Promise<WorkflowRunResult> {
  const yml = parseYaml(readFileSync(call.workflow, 'utf8')) as WorkflowYaml;
  const on = yml.on;
  const spec = on && typeof on === 'object' && !Array.isArray(on) ? on.workflow_call : undefined;
  if (!spec && !(on && typeof on === 'object' && !Array.isArray(on) && 'workflow_call' in on)) {
    throw new Error(`${call.workflow}: not a reusable workflow (no on.workflow_call)`);
  }
  const callSpec = spec ?? {};
  const jobsYaml = yml.jobs ?? {};
  checkShape(call.workflow, jobsYaml);

  const runId = call.run?.id ?? call.actionsRuntime?.runId ?? 1;
  const runAttempt = call.run?.attempt ?? call.actionsRuntime?.runAttempt ?? 1;
  const runNumber = call.run?.number ?? 1;
  const refName = call.ref.replace(/^refs\/(heads|tags)\//, '');
  const payload = call.event.payload;
  const pr = payload.pull_request as { head?: { ref?: string }; base?: { ref?: string } } | undefined;
  const github: Record<string, unknown> = {
    event_name: call.event.name,
    event: payload,
    sha: call.sha,
    ref: call.ref,
    ref_name: refName,
    ref_type: call.ref.startsWith('refs/tags/') ? 'tag' : 'branch',
    head_ref: pr?.head?.ref ?? '',
    base_ref: pr?.base?.ref ?? '',
    repository: call.repository,
    repository_owner: call.repository.split('/')[0] ?? '',
    run_id: String(runId),
    run_number: String(runNumber),
    run_attempt: String(runAttempt),
    workflow: call.caller.name,
    workflow_ref: call.caller.ref,
    server_url: 'https://github.com',
    api_url: 'https://api.github.com',
    actor: (payload.sender as { login?: string } | undefined)?.login ?? call.repository.split('/')[0] ?? '',
  };
  const inputs = callInputs(callSpec, call.with ?? {}, github);
  const secrets = callSecrets(callSpec, call.secrets ?? {});

  const runEnv: Record<string, string> = {
    ...(call.env ?? {}),
    GITHUB_SHA: call.sha,
    GITHUB_REF: call.ref,
    GITHUB_REF_NAME: refName,
    GITHUB_REF_TYPE: String(github.ref_type),
    GITHUB_WORKFLOW: call.caller.name,
    GITHUB_WORKFLOW_REF: call.caller.ref,
    GITHUB_RUN_ID: String(runId),
    GITHUB_RUN_NUMBER: String(runNumber),
    GITHUB_RUN_ATTEMPT: String(runAttempt),
    GITHUB_ACTOR: String(github.actor),
    ...(pr ? { GITHUB_HEAD_REF: String(github.head_ref), GITHUB_BASE_REF: String(github.base_ref) } : {}),
    ...(call.gitServer ? { STANDIN_GIT_SERVER: call.gitServer } : {}),
  };

  const jobs: Record<string, JobRun> = {};
  const finished: LegRun[] = [];
  const started = new Map<string, Promise<JobRun>>();
  const ctx = { call, yml, github, inputs, secrets, runEnv, jobs, finished };
  const start = (id: string): Promise<JobRun> => {
    let p = started.get(id);
    if (!p) {
      const job = jobsYaml[id] as JobYaml;
      p = Promise.all(needsOf(job).map(start)).then(() => runJob(ctx, id, job));
      started.set(id, p);
    }
    return p;
  };
  await Promise.all(Object.keys(jobsYaml).map(start));

  const failed = Object.values(jobs).some((j) => j.result === 'failure');
  const jobsContext = Object.fromEntries(
    Object.values(jobs).map((j) => [j.id, { result: j.result, outputs: j.outputs }]),
  );
  const outputs: Record<string, string> = {};
  for (const [name, def] of Object.entries(callSpec.outputs ?? {})) {
    outputs[name] = interpolateString(def.value ?? '', { github, inputs, jobs: jobsContext, vars: {} });
  }
  const withJobs = finished.filter((l) => l.job);
  const allMasks = () => [...Object.values(secrets), ...withJobs.flatMap((l) => [...(l.job?.masks ?? [])])];
  return {
    result: failed ? 'failure' : 'success',
    jobs,
    outputs,
    legs: withJobs,
    output: () =>
      withJobs
        .map((l) => {
          const errors = [l.error, ...l.steps.map((st) => st.error && `step ${st.name}: ${st.error}`)];
          const head = `=== job: ${l.name} (${l.result}) ===`;
          return [head, ...errors.filter(Boolean).map((e) => `error: ${e}`), l.job?.output() ?? ''].join(
            '\n',
          );
        })
        .join('\n'),
    leakedSecrets: (extra: string[] = []) => [
      ...new Set(withJobs.flatMap((l) => l.job?.leakedSecrets([...allMasks(), ...extra]) ?? [])),
    ],
    cleanup: () => withJobs.forEach((l) => l.job?.cleanup()),
  };
}

/** What GitHub refuses when it loads the workflow: unknown needs, cycles, unsupported keys, unresolvable uses. */
function checkShape(file: string, jobs: Record<string, JobYaml>): void {
  for (const [id, job] of Object.entries(jobs)) {
    for (const key of Object.keys(job)) {
      if (!JOB_KEYS.has(key))
        throw new Error(`${file}: job ${id}: the workflow runner does not support \`${key}\``);
    }
    for (const need of needsOf(job)) {
      if (!(need in jobs))
        throw new Error(`${file}: job ${id} needs ${need}, which is not a job of the workflow`);
    }
    for (const [i, step] of (job.steps ?? []).entries()) {
      for (const key of Object.keys(step)) {
        if (!STEP_KEYS.has(key)) {
          throw new Error(`${file}: job ${id} step ${i}: the workflow runner does not support \`${key}\``);
        }
      }
      if ((step.uses === undefined) === (step.run === undefined)) {
        throw new Error(`${file}: job ${id} step ${i}: needs exactly one of uses and run`);
      }
      if (step.uses) resolveUses(step.uses);
      if (step.run !== undefined && (step.shell ?? 'bash') !== 'bash') {
        throw new Error(`${file}: job ${id} step ${i}: only shell: bash is supported`);
      }
    }
  }
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (id: string, path: string[]) => {
    if (done.has(id)) return;
    if (visiting.has(id)) throw new Error(`${file}: the needs of ${[...path, id].join(' -> ')} form a cycle`);
    visiting.add(id);
    for (const need of needsOf(jobs[id] as JobYaml)) visit(need, [...path, id]);
    visiting.delete(id);
    done.add(id);
  };
  for (const id of Object.keys(jobs)) visit(id, []);
}

interface RunContext {
  call: WorkflowCall;
  yml: WorkflowYaml;
  github: Record<string, unknown>;
  inputs: Record<string, unknown>;
  secrets: Record<string, string>;
  runEnv: Record<string, string>;
  jobs: Record<string, JobRun>;
  finished: LegRun[];
}

/** The ancestors of a job (its needs, theirs, ...). */
function ancestors(ctx: RunContext, id: string): string[] {
  const out = new Set<string>();
  const walk = (j: string) => {
    for (const need of needsOf((ctx.yml.jobs ?? {})[j] as JobYaml)) {
      if (!out.has(need)) {
        out.add(need);
        walk(need);
      }
    }
  };
  walk(id);
  return [...out];
}

async function runJob(ctx: RunContext, id: string, job: JobYaml): Promise<JobRun> {
  const needs = Object.fromEntries(
    needsOf(job).map((n) => [n, { result: ctx.jobs[n]?.result, outputs: ctx.jobs[n]?.outputs ?? {} }]),
  );
  const status: Status = {
    succeeded: needsOf(job).every((n) => ctx.jobs[n]?.result === 'success'),
    failed: ancestors(ctx, id).some((n) => ctx.jobs[n]?.result === 'failure'),
  };
  const record = (run: JobRun): JobRun => {
    ctx.jobs[id] = run;
    return run;
  };
  const base = { github: ctx.github, needs, vars: {}, inputs: ctx.inputs };
  let run: boolean;
  try {
    run = condition(job.if, base, status);
  } catch (err: unknown) {
    return record(failedJob(ctx, id, err));
  }
  if (!run) return record({ id, result: 'skipped', outputs: {}, legs: [] });

  let legs: Array<Record<string, unknown> | undefined>;
  let failFast = true;
  let maxParallel = Infinity;
  try {
    const strategy = interpolate(job.strategy ?? {}, { ...base, matrix: {}, strategy: {} }) as {
      matrix?: unknown;
      'fail-fast'?: unknown;
      'max-parallel'?: unknown;
    };
    if (strategy.matrix === undefined) legs = [undefined];
    else {
      legs = expandMatrix(strategy.matrix);
      if (legs.length === 0) throw new Error(`job ${id}: the matrix has no legs (GitHub fails such a job)`);
    }
    failFast = strategy['fail-fast'] !== false && strategy['fail-fast'] !== 'false';
    if (strategy['max-parallel'] !== undefined) maxParallel = Number(strategy['max-parallel']);
  } catch (err: unknown) {
    return record(failedJob(ctx, id, err));
  }

  const runs: LegRun[] = [];
  let stop = false;
  let next = 0;
  const worker = async () => {
    while (next < legs.length) {
      const index = next++;
      const matrix = legs[index];
      if (stop) {
        runs[index] = { jobId: id, name: id, result: 'cancelled', steps: [], post: [], outputs: {} };
        continue;
      }
      const leg = await runLeg(ctx, id, job, needs, matrix, {
        'fail-fast': failFast,
        'job-index': index,
        'job-total': legs.length,
        'max-parallel': Number.isFinite(maxParallel) ? maxParallel : legs.length,
      });
      runs[index] = leg;
      ctx.finished.push(leg);
      if (leg.result === 'failure' && failFast) stop = true;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(maxParallel, legs.length)) }, worker));
  const result: JobResult = runs.some((l) => l.result === 'failure')
    ? 'failure'
    : runs.some((l) => l.result === 'cancelled')
      ? 'cancelled'
      : 'success';
  // A matrix job's outputs: each leg's, the later legs' non-empty values over the earlier ones' (GitHub keeps one).
  const outputs: Record<string, string> = {};
  for (const l of runs)
    for (const [k, v] of Object.entries(l.outputs)) if (v !== '' || !(k in outputs)) outputs[k] = v;
  return record({ id, result, outputs, legs: runs });
}

function failedJob(ctx: RunContext, id: string, err: unknown): JobRun {
  const error = err instanceof Error ? err.message : String(err);
  const leg: LegRun = { jobId: id, name: id, result: 'failure', steps: [], post: [], outputs: {}, error };
  ctx.finished.push(leg);
  return { id, result: 'failure', outputs: {}, legs: [leg], error };
}

async function runLeg(
  ctx: RunContext,
  id: string,
  yml: JobYaml,
  needs: Record<string, unknown>,
  matrix: Record<string, unknown> | undefined,
  strategy: Record<string, unknown>,
): Promise<LegRun> {
  const jobBase = {
    github: { ...ctx.github, job: id },
    needs,
    vars: {},
    inputs: ctx.inputs,
    matrix: matrix ?? {},
    strategy,
  };
  const leg: LegRun = { jobId: id, name: id, result: 'success', steps: [], post: [], outputs: {} };
  if (matrix) leg.matrix = matrix;
  const fail = (err: unknown): LegRun => {
    leg.result = 'failure';
    leg.error = err instanceof Error ? err.message : String(err);
    return leg;
  };
  let env: Record<string, string>;
  try {
    leg.name = yml.name
      ? interpolateString(yml.name, jobBase)
      : matrix
        ? `${id} (${Object.values(matrix).map(asString).join(', ')})`
        : id;
    interpolate(yml['runs-on'], jobBase);
    env = {
      ...interpolateMap(ctx.yml.env, { ...jobBase, secrets: ctx.secrets }),
      ...interpolateMap(yml.env, { ...jobBase, secrets: ctx.secrets }),
    };
  } catch (err: unknown) {
    return fail(err);
  }
  const granted = (scope: string) =>
    permissionOf(yml.permissions ?? ctx.yml.permissions ?? ctx.call.permissions, scope) === 'write' &&
    permissionOf(ctx.call.permissions, scope) === 'write';
  const oidc = granted('id-token') && ctx.call.idToken;
  const job = new Job({
    event: ctx.call.event,
    repository: ctx.call.repository,
    ownDockerConfig: true,
    ...(ctx.call.toolCache ? { toolCache: ctx.call.toolCache } : {}),
    ...(ctx.call.actionsRuntime ? { actionsRuntime: ctx.call.actionsRuntime } : {}),
    env: {
      ...ctx.runEnv,
      GITHUB_JOB: id,
      ...(oidc ? { ACTIONS_ID_TOKEN_REQUEST_URL: oidc.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.token } : {}),
      ...env,
    },
  });
  leg.job = job;
  for (const s of Object.values(ctx.secrets)) if (s) job.masks.add(s);
  if (oidc) job.masks.add(oidc.token);
  const secrets = { ...ctx.secrets, GITHUB_TOKEN: job.githubToken };
  const github = { ...jobBase.github, workspace: job.workspace, token: job.githubToken };
  const runner = { os: 'Linux', arch: 'X64', temp: job.temp, tool_cache: job.toolCache };
  const stepsContext: Record<
    string,
    { outputs: Record<string, string>; outcome: string; conclusion: string }
  > = {};
  const stepStatus: Status = { failed: false, succeeded: true };
  const jobContext = { status: 'success' };
  for (const step of yml.steps ?? []) {
    const contexts = { ...jobBase, github, runner, job: jobContext, env, steps: stepsContext };
    const rec: StepRecord = {
      name: step.name ?? step.uses ?? `Run ${step.run?.split('\n')[0] ?? ''}`,
      outcome: 'skipped',
      conclusion: 'skipped',
      outputs: {},
    };
    if (step.id) rec.id = step.id;
    leg.steps.push(rec);
    try {
      if (step.name) rec.name = interpolateString(step.name, { ...contexts, secrets });
      if (!condition(step.if, contexts, stepStatus)) {
        if (step.id) stepsContext[step.id] = { outputs: {}, outcome: 'skipped', conclusion: 'skipped' };
        continue;
      }
      const withSecrets = { ...contexts, secrets };
      const stepEnv = { ...env, ...interpolateMap(step.env, withSecrets) };
      let result: StepResult;
      if (step.uses) {
        result = await job.step(resolveUses(step.uses), {
          inputs: interpolateMap(step.with, withSecrets),
          env: stepEnv,
        });
      } else {
        const cwd = step['working-directory']
          ? resolve(job.workspace, interpolateString(step['working-directory'], withSecrets))
          : undefined;
        result = await job.run(interpolateString(step.run ?? '', withSecrets), {
          env: stepEnv,
          ...(cwd ? { cwd } : {}),
        });
      }
      rec.result = result;
      rec.outputs = result.outputs;
      rec.outcome = result.exitCode === 0 ? 'success' : 'failure';
    } catch (err: unknown) {
      rec.outcome = 'failure';
      rec.error = err instanceof Error ? err.message : String(err);
    }
    const continueOnError = step['continue-on-error'] === true || step['continue-on-error'] === 'true';
    rec.conclusion = rec.outcome === 'failure' && continueOnError ? 'success' : rec.outcome;
    if (rec.conclusion === 'failure') {
      stepStatus.failed = true;
      jobContext.status = 'failure';
    }
    if (step.id)
      stepsContext[step.id] = { outputs: rec.outputs, outcome: rec.outcome, conclusion: rec.conclusion };
  }
  leg.post = await job.finish();
  if (stepStatus.failed || leg.post.some((p) => p.exitCode !== 0)) leg.result = 'failure';
  try {
    leg.outputs = interpolateMap(yml.outputs, {
      ...jobBase,
      github,
      runner,
      job: jobContext,
      env,
      steps: stepsContext,
      secrets,
    });
  } catch (err: unknown) {
    return fail(err);
  }
  return leg;
}
