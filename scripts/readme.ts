// Writes the README's input/output tables from each action.yml, between `<!-- inputs:NAME -->` and
// `<!-- /inputs:NAME -->` markers. `tsx scripts/readme.ts` rewrites README.md; `--check` fails when it is stale.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { repositoryName } from '../shared/identity';

const root = resolve(import.meta.dirname, '..');

interface ActionYaml {
  inputs?: Record<string, { description?: string; default?: unknown; required?: boolean }>;
  outputs?: Record<string, { description?: string }>;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

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

export function renderReadme(text: string): string {
  // The `uses:` lines follow package.json `repository`, so a fork renames them by changing one field.
  const repo = repositoryName();
  let out = text.replace(/[\w.-]+\/[\w.-]+\/actions\/([a-z-]+)@v1/g, `${repo}/actions/$1@v1`);
  for (const name of readdirSync(join(root, 'actions'))) {
    if (!existsSync(join(root, 'actions', name, 'action.yml'))) continue;
    const open = `<!-- inputs:${name} -->`;
    const close = `<!-- /inputs:${name} -->`;
    const a = out.indexOf(open);
    const b = out.indexOf(close);
    if (a < 0 || b < a) continue;
    out = `${out.slice(0, a + open.length)}\n${actionTable(name)}\n${out.slice(b)}`;
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = join(root, 'README.md');
  const text = readFileSync(file, 'utf8');
  const fresh = renderReadme(text);
  if (process.argv.includes('--check')) {
    if (fresh !== text) {
      console.error(
        'README.md is stale (its tables or `uses:` lines): run `npx tsx scripts/readme.ts` and commit README.md.',
      );
      process.exit(1);
    }
  } else {
    writeFileSync(file, fresh);
  }
}
