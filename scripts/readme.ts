// Writes the README's input/output tables from each action.yml, between `<!-- inputs:NAME -->` and
// `<!-- /inputs:NAME -->` markers, and those of each reusable workflow's workflow_call between
// `<!-- workflow:NAME -->` and `<!-- /workflow:NAME -->` (NAME.yml in .github/workflows/), and makes every `uses:` of our actions and of our reusable workflow follow
// package.json `repository`: in README.md, and on the `uses:` lines of .github/workflows/*.yml and
// examples/workflows/*.yml (`<owner>/<repo>/actions/<name>@v1`, `<owner>/<repo>/.github/workflows/<file>@v1` for our
// reusable workflows). `tsx scripts/readme.ts` rewrites the stale files; `--check` fails naming each stale file.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { repositoryName } from '../shared/identity';

const root = resolve(import.meta.dirname, '..');

/** The directories whose workflows' `uses:` lines follow package.json `repository`. */
export const WORKFLOW_DIRS = ['.github/workflows', 'examples/workflows'] as const;

/**
 * Our reusable workflows (their `on:` has workflow_call): the file in .github/workflows/, and the standalone
 * repository npm run release:actions publishes it as (`<owner>/<standalone>/.github/workflows/<file>@v1`).
 */
export const REUSABLE_WORKFLOWS = [
  { file: 'build-monorepo.yml', standalone: 'build-monorepo-workflow' },
] as const;

interface ActionYaml {
  inputs?: Record<string, { description?: string; default?: unknown; required?: boolean }>;
  outputs?: Record<string, { description?: string }>;
}

/** A table cell: one line, `|` escaped, and `<` outside code spans escaped so `<registry>` is not read as HTML. */
const cell = (s: string): string =>
  s
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')
    .split('`')
    .map((part, i) => (i % 2 === 0 ? part.replace(/</g, '\\<') : part))
    .join('`');

export function actionTable(name: string): string {
  const yml = parse(readFileSync(join(root, 'actions', name, 'action.yml'), 'utf8')) as ActionYaml;
  const lines = ['| input | default | description |', '| --- | --- | --- |'];
  for (const [input, spec] of Object.entries(yml.inputs ?? {})) {
    const def = spec.default === undefined ? '' : `\`${String(spec.default)}\``;
    lines.push(`| \`${input}\` | ${cell(def)} | ${cell(spec.description ?? '')} |`);
  }
  if (yml.outputs && Object.keys(yml.outputs).length > 0) {
    lines.push('', '| output | description |', '| --- | --- |');
    for (const [output, spec] of Object.entries(yml.outputs)) {
      lines.push(`| \`${output}\` | ${cell(spec.description ?? '')} |`);
    }
  }
  return lines.join('\n');
}

interface WorkflowYaml {
  on?: {
    workflow_call?: {
      inputs?: Record<string, { description?: string; default?: unknown; required?: boolean; type?: string }>;
      secrets?: Record<string, { description?: string; required?: boolean }>;
      outputs?: Record<string, { description?: string }>;
    };
  };
}

/** The inputs, secrets and outputs tables of a reusable workflow (`<name>.yml` in .github/workflows/). */
export function workflowTable(
  name: string,
  file = join(root, '.github', 'workflows', `${name}.yml`),
): string {
  const call = (parse(readFileSync(file, 'utf8')) as WorkflowYaml).on?.workflow_call ?? {};
  const lines = ['| input | type | default | description |', '| --- | --- | --- | --- |'];
  for (const [input, spec] of Object.entries(call.inputs ?? {})) {
    const def = spec.default === undefined || spec.default === '' ? '' : `\`${String(spec.default)}\``;
    const required = spec.required === true ? ' (required)' : '';
    lines.push(
      `| \`${input}\` | ${spec.type ?? 'string'}${required} | ${cell(def)} | ${cell(spec.description ?? '')} |`,
    );
  }
  if (call.secrets && Object.keys(call.secrets).length > 0) {
    lines.push('', '| secret | description |', '| --- | --- |');
    for (const [secret, spec] of Object.entries(call.secrets)) {
      const required = spec.required === true ? ' (required)' : '';
      lines.push(`| \`${secret}\`${required} | ${cell(spec.description ?? '')} |`);
    }
  }
  if (call.outputs && Object.keys(call.outputs).length > 0) {
    lines.push('', '| output | description |', '| --- | --- |');
    for (const [output, spec] of Object.entries(call.outputs)) {
      lines.push(`| \`${output}\` | ${cell(spec.description ?? '')} |`);
    }
  }
  return lines.join('\n');
}

/** Replaces what lies between `open` and `close` (both kept) with `body`; the text as it is without the markers. */
function between(text: string, open: string, close: string, body: () => string): string {
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  if (a < 0 || b < a) return text;
  return `${text.slice(0, a + open.length)}\n${body()}\n${text.slice(b)}`;
}

function actionNames(): string[] {
  return readdirSync(join(root, 'actions')).filter((name) =>
    existsSync(join(root, 'actions', name, 'action.yml')),
  );
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `<owner>/<repo>/.github/workflows/<one of ours>@v1`, capturing `<owner>/<repo>` and the file. */
function workflowRef(): RegExp {
  const workflows = REUSABLE_WORKFLOWS.map((w) => escape(w.file)).join('|');
  return new RegExp(`([\\w.-]+\\/[\\w.-]+)\\/\\.github\\/workflows\\/(${workflows})@v1`, 'g');
}

export function renderReadme(text: string): string {
  // The `uses:` lines follow package.json `repository`, so a fork renames them by changing one field.
  const repo = repositoryName();
  const owner = repo.split('/')[0] as string;
  let out = text.replace(/[\w.-]+\/[\w.-]+\/actions\/([a-z-]+)@v1/g, `${repo}/actions/$1@v1`);
  // The standalone repositories of release:actions: `<owner>/<action>-action@v1`, `<owner>/<standalone>/...`.
  const actions = actionNames().map(escape).join('|');
  out = out.replace(new RegExp(`\\b[\\w.-]+\\/(${actions})-action@v1`, 'g'), `${owner}/$1-action@v1`);
  out = out.replace(workflowRef(), (_m, from: string, file: string) => {
    const standalone = REUSABLE_WORKFLOWS.find((w) => w.file === file)?.standalone;
    return from.endsWith(`/${standalone}`)
      ? `${owner}/${standalone}/.github/workflows/${file}@v1`
      : `${repo}/.github/workflows/${file}@v1`;
  });
  for (const name of actionNames()) {
    out = between(out, `<!-- inputs:${name} -->`, `<!-- /inputs:${name} -->`, () => actionTable(name));
  }
  for (const { file } of REUSABLE_WORKFLOWS) {
    const name = file.replace(/\.yml$/, '');
    out = between(out, `<!-- workflow:${name} -->`, `<!-- /workflow:${name} -->`, () => workflowTable(name));
  }
  return out;
}

/**
 * A workflow with its `uses:` of our actions (those under actions/) and our reusable workflows following package.json
 * `repository`. Only `uses:` values (in steps, jobs, and the comments that show one) at `@v1` are touched, so a
 * third-party action or workflow of the same shape but another name stays as it is.
 */
export function renderWorkflow(text: string): string {
  const repo = repositoryName();
  const owner = repo.split('/')[0] as string;
  const actions = actionNames().map(escape).join('|');
  const workflows = REUSABLE_WORKFLOWS.map((w) => escape(w.file)).join('|');
  const ref = new RegExp(
    `(\\buses:[ \\t]*['"]?)([\\w.-]+\\/[\\w.-]+)\\/(actions\\/(?:${actions})|\\.github\\/workflows\\/(?:${workflows}))@v1\\b`,
    'g',
  );
  return text.replace(ref, (_m, head: string, from: string, path: string) => {
    // A call into a standalone workflow repository keeps it, under our owner.
    const standalone = REUSABLE_WORKFLOWS.find((w) => path === `.github/workflows/${w.file}`)?.standalone;
    const to = standalone && from.endsWith(`/${standalone}`) ? `${owner}/${standalone}` : repo;
    return `${head}${to}/${path}@v1`;
  });
}

export interface Rendered {
  /** Repository-relative. */
  path: string;
  text: string;
  fresh: string;
}

/** README.md and every workflow under `dir`, each with what it should hold. */
export function renderAll(dir: string = root): Rendered[] {
  const out: Rendered[] = [];
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  out.push({ path: 'README.md', text: readme, fresh: renderReadme(readme) });
  for (const wfDir of WORKFLOW_DIRS) {
    if (!existsSync(join(dir, wfDir))) continue;
    for (const name of readdirSync(join(dir, wfDir)).sort()) {
      if (!/\.ya?ml$/.test(name)) continue;
      const path = `${wfDir}/${name}`;
      const text = readFileSync(join(dir, path), 'utf8');
      out.push({ path, text, fresh: renderWorkflow(text) });
    }
  }
  return out;
}

/** `--check`: the stale files' messages (none when all are fresh). Otherwise rewrites the stale files. */
export function run(dir: string, check: boolean): string[] {
  const stale = renderAll(dir).filter((r) => r.fresh !== r.text);
  if (check) {
    return stale.map((r) =>
      r.path === 'README.md'
        ? 'README.md is stale (its tables or `uses:` lines): run `npx tsx scripts/readme.ts` and commit README.md.'
        : `${r.path} is stale (its \`uses:\` lines do not follow package.json repository, ${repositoryName()}): run \`npx tsx scripts/readme.ts\` and commit ${r.path}.`,
    );
  }
  for (const r of stale) writeFileSync(join(dir, r.path), r.fresh);
  return [];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = run(root, process.argv.includes('--check'));
  for (const line of problems) console.error(line);
  if (problems.length > 0) process.exit(1);
}
