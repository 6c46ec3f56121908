// A GitLab job, as far as this machine can run one: `gitlab-ci-local --preview` (4.73.0, the devDependency) expands
// examples/gitlab/.gitlab-ci.yml, which includes the component's template, with the inputs a test gives; runJob()
// then runs the expanded job's script lines in bash, one shell for all of them and each line's failure ending the job
// (as GitLab's shell executor does, `set -eo pipefail`), with the pipeline's and the job's variables set. The job's
// image and service are not run: the script runs on this Debian machine against the engine's Docker, so the first
// line (`apk add --no-cache nodejs` when apk is there: Alpine's Node for the CLI's launcher) is skipped, and the
// variables of the job's dind service (DOCKER_HOST, DOCKER_TLS_CERTDIR) are not set.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseDocument } from 'yaml';
import { exec } from '../../cli/test/engine';
import type { Result } from '../../cli/test/engine';
import { gitlabComponentPath } from '../../shared/identity';
import { ROOT } from './runner';

export const EXAMPLE = join(ROOT, 'examples', 'gitlab', '.gitlab-ci.yml');
export const TEMPLATE = join(ROOT, 'integrations', 'gitlab', 'templates', 'build.yml');
const GITLAB_CI_LOCAL = join(ROOT, 'node_modules', '.bin', 'gitlab-ci-local');

/** A job of the preview: what GitLab would run. */
export interface PreviewJob {
  name: string;
  stage: string;
  image: { name: string };
  services: Array<{ name: string; alias?: string }>;
  variables?: Record<string, string>;
  id_tokens: Record<string, { aud: string }>;
  script: string[];
}

/**
 * The jobs of `gitlab-ci-local --preview` over examples/gitlab/.gitlab-ci.yml (its include's inputs replaced by
 * `inputs` when given, its `variables:` merged with `variables`), in a local copy of the component project: a git
 * repository whose origin is package.json's component path, holding templates/build.yml. gitlab-ci-local reads a
 * component of the project itself from disk when the include's ref is the checked-out commit, so the example's ref
 * (`~latest`) is pinned to that commit; nothing else of the file changes.
 */
export function preview(
  inputs?: Record<string, unknown>,
  variables?: Record<string, string>,
): { project: string; variables: Record<string, string>; jobs: Record<string, PreviewJob> } {
  const project = mkdtempSync(join(tmpdir(), 'depot-gitlab-project-'));
  mkdirSync(join(project, 'templates'));
  writeFileSync(join(project, 'templates', 'build.yml'), readFileSync(TEMPLATE, 'utf8'));
  const git = (...args: string[]): string =>
    execFileSync('git', args, { cwd: project, encoding: 'utf8', stdio: 'pipe' }).trim();
  git('init', '-q', '-b', 'main');
  git('remote', 'add', 'origin', `https://${gitlabComponentPath()}.git`);
  git('add', '-A');
  git('-c', 'user.name=ci', '-c', 'user.email=ci@example.com', 'commit', '-qm', 'the component');
  const sha = git('rev-parse', 'HEAD');
  const doc = parseDocument(readFileSync(EXAMPLE, 'utf8'));
  const component = String(doc.getIn(['include', 0, 'component']));
  if (!component.startsWith(`${gitlabComponentPath()}/build@`))
    throw new Error(`${EXAMPLE} includes ${component}, not ${gitlabComponentPath()}/build@...`);
  doc.setIn(['include', 0, 'component'], component.replace(/@.*$/, `@${sha}`));
  if (inputs) doc.setIn(['include', 0, 'inputs'], doc.createNode(inputs));
  for (const [k, v] of Object.entries(variables ?? {})) doc.setIn(['variables', k], v);
  writeFileSync(join(project, '.gitlab-ci.yml'), doc.toString());
  const out = execFileSync(GITLAB_CI_LOCAL, ['--preview'], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
  const parsed = parse(out.slice(out.indexOf('---'))) as Record<string, unknown>;
  const jobs: Record<string, PreviewJob> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (value && typeof value === 'object' && 'script' in value)
      jobs[name] = { name, ...(value as Omit<PreviewJob, 'name'>) };
  }
  const globals = (parsed.variables ?? {}) as Record<string, string>;
  return { project, variables: globals, jobs };
}

/** The one job of a preview, and the pipeline's variables. */
export function previewJob(
  inputs?: Record<string, unknown>,
  variables?: Record<string, string>,
): { project: string; variables: Record<string, string>; job: PreviewJob } {
  const { project, variables: globals, jobs } = preview(inputs, variables);
  const all = Object.values(jobs);
  if (all.length !== 1) throw new Error(`the preview has ${all.length} jobs, not one`);
  return { project, variables: globals, job: all[0] as PreviewJob };
}

/** The job's variables that belong to its Docker-in-Docker service, which this machine's Docker stands in for. */
const SERVICE_VARIABLES = new Set(['DOCKER_HOST', 'DOCKER_TLS_CERTDIR']);

/** `$NAME` and `${NAME}` expanded from `vars` (unknown names expand to nothing), as GitLab expands `aud:`. */
export function expandVariables(text: string, vars: NodeJS.ProcessEnv): string {
  return text.replace(/\$(?:\{(\w+)\}|(\w+))/g, (_m, a?: string, b?: string) => vars[a ?? b ?? ''] ?? '');
}

/** The script lines this machine runs: those after the image's `apk add` line (skipped, not run). */
export function hostScript(job: PreviewJob): string[] {
  const i = job.script.findIndex((line) => /\bapk add\b/.test(line));
  if (i !== 0) throw new Error('the job does not start with its `apk add` line');
  return job.script.slice(i + 1);
}

/**
 * Runs the job's script lines (after `apk add`) in one bash, in the project's folder, with `env` (the CI_* of
 * GitLab, DEPOT_OIDC_TOKEN of its id_tokens), the pipeline's and the job's variables (but its dind service's) on top.
 */
export function runJob(
  job: PreviewJob,
  project: string,
  env: NodeJS.ProcessEnv,
  variables: Record<string, string> = {},
): Promise<Result> {
  const file = join(project, '.job.sh');
  writeFileSync(file, ['set -eo pipefail', ...hostScript(job)].join('\n') + '\n');
  const own = Object.entries({ ...variables, ...job.variables }).filter(([k]) => !SERVICE_VARIABLES.has(k));
  return exec('bash', [file], {
    env: { ...env, ...Object.fromEntries(own), CI_PROJECT_DIR: project },
    cwd: project,
  });
}
