// `npm run release:gitlab [-- --out DIR]` (default release/gitlab): the GitLab CI/CD component project, publishable
// at package.json `integrations.gitlabComponent`: templates/ (the component), README.md (its inputs table, made from
// `spec:inputs`, and an `include: component:` example), LICENSE, and a .gitlab-ci.yml that includes the component at
// `$CI_COMMIT_SHA`. `-- --sync` instead rewrites the inline copy of scripts/install.sh in
// integrations/gitlab/templates/build.yml (between its `# install.sh: begin` and `# install.sh: end` lines), which
// a test keeps equal to what syncInstallStep() makes.
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { gitlabComponentPath, repositoryName } from '../shared/identity';

const root = resolve(import.meta.dirname, '..');
export const TEMPLATES = join(root, 'integrations', 'gitlab', 'templates');
const BEGIN = /^( *)# install\.sh: begin.*$/m;
const END = /^ *# install\.sh: end$/m;
const HEREDOC = 'DEPOT_INSTALL_SH';

/** The job's install step: scripts/install.sh written out whole by a quoted heredoc, as one YAML script entry. */
export function installStep(indent: string): string[] {
  const script = readFileSync(join(root, 'scripts', 'install.sh'), 'utf8').replace(/\n$/, '');
  if (script.split('\n').includes(HEREDOC)) throw new Error(`scripts/install.sh holds a line ${HEREDOC}`);
  const body = [`cat >"\${TMPDIR:-/tmp}/depot-install.sh" <<'${HEREDOC}'`, ...script.split('\n'), HEREDOC];
  return [`${indent}- |`, ...body.map((line) => (line === '' ? '' : `${indent}  ${line}`))];
}

/** The template with its inline install step made afresh from scripts/install.sh. */
export function syncInstallStep(template: string): string {
  const begin = BEGIN.exec(template);
  const end = END.exec(template);
  if (!begin || !end || end.index < begin.index)
    throw new Error('the template has no `# install.sh: begin` ... `# install.sh: end` lines');
  const head = template.slice(0, begin.index + begin[0].length);
  return [head, ...installStep(begin[1] ?? ''), template.slice(end.index)].join('\n');
}

export interface InputSpec {
  type?: string;
  default?: unknown;
  description?: string;
  options?: unknown[];
}

/** A template's `spec:inputs` (its first YAML document). */
export function templateInputs(file: string): Record<string, InputSpec> {
  const [header] = parseAllDocuments(readFileSync(file, 'utf8'));
  const spec = header?.toJS() as { spec?: { inputs?: Record<string, InputSpec> } } | undefined;
  return spec?.spec?.inputs ?? {};
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

export function inputsTable(file: string): string {
  const lines = ['| input | type | default | description |', '| --- | --- | --- | --- |'];
  for (const [name, spec] of Object.entries(templateInputs(file))) {
    const def = spec.default === undefined ? '' : `\`${JSON.stringify(spec.default)}\``;
    lines.push(`| \`${name}\` | ${spec.type ?? 'string'} | ${cell(def)} | ${cell(spec.description ?? '')} |`);
  }
  return lines.join('\n');
}

export function componentReadme(): string {
  const path = gitlabComponentPath();
  return [
    `# ${path}`,
    '',
    `The GitLab CI/CD component of [${repositoryName()}](https://github.com/${repositoryName()}): one job that`,
    'installs the depot CLI (SHA-256 checked), exchanges its `id_tokens:` OIDC token at your depot OIDC broker for',
    "a project token and builds with the project's registry cache.",
    '',
    '```yaml',
    'include:',
    `  - component: ${path}/build@~latest`,
    '    inputs:',
    '      tags: registry.example.com/acme/web:$CI_COMMIT_SHORT_SHA',
    '      push: true',
    '',
    'variables:',
    '  DEPOT_BROKER_URL: https://depot-broker.example.com',
    '```',
    '',
    '## build',
    '',
    inputsTable(join(TEMPLATES, 'build.yml')),
    '',
    'The default `image` (`docker:28-cli`) is Alpine: the job first runs `apk add --no-cache nodejs` when `apk` is',
    "there, and the CLI's launcher falls back to that `node`. That line is checked by `gitlab-ci-local --preview`",
    "only. Another image needs Docker's CLI with buildx, curl or wget, and sha256sum; a glibc image (Debian,",
    'Ubuntu) runs the bundled Node.',
    '',
  ].join('\n');
}

export function releaseGitlab(outDir: string): string {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'templates'), { recursive: true });
  for (const name of readdirSync(TEMPLATES).sort()) {
    const text = readFileSync(join(TEMPLATES, name), 'utf8');
    if (syncInstallStep(text) !== text)
      throw new Error(`templates/${name} is stale: run \`npm run release:gitlab -- --sync\``);
    writeFileSync(join(outDir, 'templates', name), text);
  }
  cpSync(join(root, 'LICENSE'), join(outDir, 'LICENSE'));
  writeFileSync(join(outDir, 'README.md'), componentReadme());
  writeFileSync(
    join(outDir, '.gitlab-ci.yml'),
    [
      '# The component project tests itself: its own build job, from the commit being tested.',
      'include:',
      `  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/build@$CI_COMMIT_SHA`,
      '    inputs:',
      '      tags: $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA',
      '',
    ].join('\n'),
  );
  return outDir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  try {
    if (args.includes('--sync')) {
      for (const name of readdirSync(TEMPLATES)) {
        const file = join(TEMPLATES, name);
        writeFileSync(file, syncInstallStep(readFileSync(file, 'utf8')));
        console.log(`synced ${file}`);
      }
    } else {
      const i = args.indexOf('--out');
      console.log(
        `wrote ${releaseGitlab(resolve(root, i >= 0 ? (args[i + 1] ?? 'release/gitlab') : 'release/gitlab'))}`,
      );
    }
  } catch (err: unknown) {
    console.error(`release:gitlab: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
