// Build checks: the Dockerfile warnings BuildKit finds. With BUILDX_METADATA_WARNINGS set (as docker's action sets
// it for every build) buildx writes them to the metadata file under `buildx.build.warnings`; they become GitHub
// annotations on the Dockerfile's lines, as docker/build-push-action makes them (DOCKER_BUILD_CHECKS_ANNOTATIONS=false
// turns them off). `call: check` writes its result under `result.json` instead: a failed check is reported as buildx
// prints it, "Check complete, N warnings have been found!", with each warning annotated.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, posix, relative, resolve } from 'node:path';
import * as core from '@actions/core';
import { UserError } from './errors';
import { gitContextSubdir, isOwnGitContext } from './github';
import type { GithubContext } from './github';

/** The env the build runs with so that buildx writes the warnings to the metadata file. */
export const BUILD_CHECKS_ENV: Readonly<Record<string, string>> = { BUILDX_METADATA_WARNINGS: 'true' };

/** One warning, from either place buildx writes them. */
export interface BuildCheckWarning {
  /** `Rule: what is wrong`, without buildx's ` (line N)`. */
  message: string;
  /** The rule's description. */
  title: string;
  url?: string;
  /** The Dockerfile's name and its text (base64) as BuildKit read it. */
  filename?: string;
  data?: string;
  startLine?: number;
  endLine?: number;
}

/** A Dockerfile the build read: an absolute local path, or a path in this repository's git context (`remote`). */
export interface DockerfileSource {
  path: string;
  remote: boolean;
}

export interface BuildCheckAnnotation {
  message: string;
  properties: { title: string; file: string; startLine?: number; endLine?: number };
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);
const b64 = (v: string): string => Buffer.from(v, 'base64').toString('utf8');

function lines(range: unknown): { startLine?: number; endLine?: number } {
  const first = Array.isArray(range) ? (range[0] as unknown) : undefined;
  if (!isObj(first)) return {};
  const startLine = num(isObj(first.start) ? first.start.line : undefined);
  const endLine = num(isObj(first.end) ? first.end.line : undefined) ?? startLine;
  return { ...(startLine ? { startLine } : {}), ...(endLine ? { endLine } : {}) };
}

/** `buildx.build.warnings` entries (short, detail and source data base64), as buildx writes them. */
export function parseMetadataWarnings(value: unknown): BuildCheckWarning[] {
  if (!Array.isArray(value)) return [];
  const out: BuildCheckWarning[] = [];
  for (const w of value as unknown[]) {
    if (!isObj(w)) continue;
    const short = str(w.short);
    const detail = Array.isArray(w.detail) ? w.detail.filter((d): d is string => typeof d === 'string') : [];
    if (!short || detail.length === 0) continue;
    const source = isObj(w.sourceInfo) ? w.sourceInfo : {};
    const warning: BuildCheckWarning = {
      message: b64(short).replace(/\s\(line \d+\)$/, ''),
      title: detail.map(b64).join(' '),
      ...lines(w.range),
    };
    if (str(w.url)) warning.url = str(w.url);
    if (str(source.filename)) warning.filename = str(source.filename);
    if (str(source.data)) warning.data = str(source.data);
    out.push(warning);
  }
  return out;
}

/** The `result.json` of `--call check`: its warnings (in the same shape) and its build error, if any. */
export function parseCheckResult(value: unknown): { warnings: BuildCheckWarning[]; error?: string } {
  if (!isObj(value)) return { warnings: [] };
  const sources = Array.isArray(value.sources) ? (value.sources as unknown[]) : [];
  const warnings: BuildCheckWarning[] = [];
  for (const w of Array.isArray(value.warnings) ? (value.warnings as unknown[]) : []) {
    if (!isObj(w)) continue;
    const rule = str(w.ruleName) ?? 'BuildCheck';
    const location = isObj(w.location) ? w.location : {};
    const index = typeof location.sourceIndex === 'number' ? location.sourceIndex : 0;
    const source = isObj(sources[index]) ? (sources[index] as Json) : {};
    const warning: BuildCheckWarning = {
      message: `${rule}: ${str(w.detail) ?? str(w.description) ?? ''}`,
      title: str(w.description) ?? rule,
      ...lines(location.ranges),
    };
    if (str(w.url)) warning.url = str(w.url);
    if (str(source.filename)) warning.filename = str(source.filename);
    if (str(source.data)) warning.data = str(source.data);
    warnings.push(warning);
  }
  const buildError = isObj(value.buildError) ? str(value.buildError.message) : undefined;
  return buildError ? { warnings, error: buildError } : { warnings };
}

/** buildx's own summary line of a check. */
export function checkCompleteLine(count: number): string {
  if (count === 0) return 'Check complete, no warnings found.';
  return count === 1
    ? 'Check complete, 1 warning has been found!'
    : `Check complete, ${count} warnings have been found!`;
}

/**
 * The annotations for the warnings whose Dockerfile the build read, as docker's toolkit matches them
 * (Buildx.convertWarningsToGitHubAnnotations): a local Dockerfile inside the workspace whose path ends with the
 * warning's file name and whose text is the text BuildKit read, annotated at its path relative to the workspace;
 * or one in this repository's git context, at its path in the repository. Others are left out (debug log).
 */
export function toAnnotations(
  warnings: BuildCheckWarning[],
  dockerfiles: DockerfileSource[],
  workspace: string,
): BuildCheckAnnotation[] {
  const files: Array<{ file: string; path: string; content?: string }> = [];
  for (const d of dockerfiles) {
    if (d.remote) {
      files.push({ file: d.path, path: d.path });
      continue;
    }
    const rel = relative(workspace, d.path);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || !existsSync(d.path)) {
      core.debug(`toAnnotations: ${d.path} is not a Dockerfile in the workspace`);
      continue;
    }
    files.push({ file: rel, path: d.path, content: readFileSync(d.path).toString('base64') });
  }
  const out: BuildCheckAnnotation[] = [];
  for (const w of warnings) {
    const name = w.filename;
    const match = files.find(
      (f) => name !== undefined && f.path.endsWith(name) && (f.content === undefined || f.content === w.data),
    );
    if (!match) {
      core.debug(`toAnnotations: no Dockerfile of this build matches ${name ?? '?'}: ${w.message}`);
      continue;
    }
    out.push({
      message: w.url ? `${w.message}\nMore info: ${w.url}` : w.message,
      properties: {
        title: w.title,
        file: match.file,
        ...(w.startLine ? { startLine: w.startLine } : {}),
        ...(w.endLine ? { endLine: w.endLine } : {}),
      },
    });
  }
  return out;
}

/** DOCKER_BUILD_CHECKS_ANNOTATIONS as docker reads it: on unless a false value. */
export function annotationsEnabled(env: NodeJS.ProcessEnv): boolean {
  const v = env.DOCKER_BUILD_CHECKS_ANNOTATIONS;
  return v === undefined || !['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v.trim());
}

/** The Dockerfile of `docker buildx build [--file FILE] CONTEXT`: `--file` is relative to the working directory. */
export function buildDockerfiles(
  context: string,
  file: string,
  github: GithubContext,
  cwd = process.cwd(),
): DockerfileSource[] {
  if (file === '-' || context === '-') return [];
  if (isOwnGitContext(context, github)) {
    // In a git context `--file` names a file in the context (the repository, or its subdirectory).
    return [{ path: posix.join(gitContextSubdir(context), file || 'Dockerfile'), remote: true }];
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(context) || context.startsWith('git@')) return [];
  // Not resolve(cwd, context, 'Dockerfile'): ncc's asset relocator takes that for a file of the bundle and rewrites it.
  const dockerfile = file ? resolve(cwd, file) : `${resolve(cwd, context || '.')}/Dockerfile`;
  return [{ path: dockerfile, remote: false }];
}

/**
 * Each target's Dockerfile from the resolved bake definition: `dockerfile` is relative to the target's `context`,
 * which is relative to the directory bake ran in (local files, or `cwd://`) or to the remote `source`.
 */
export function bakeDockerfiles(
  definition: unknown,
  opts: { source: string; workdir: string; github: GithubContext },
): DockerfileSource[] {
  const targets = isObj(definition) && isObj(definition.target) ? definition.target : {};
  const out: DockerfileSource[] = [];
  for (const target of Object.values(targets)) {
    if (!isObj(target) || str(target['dockerfile-inline'])) continue;
    const dockerfile = str(target.dockerfile) ?? 'Dockerfile';
    const context = str(target.context) ?? '.';
    if (dockerfile === '-') continue;
    if (context.startsWith('cwd://')) {
      out.push({ path: resolve(opts.workdir, context.slice('cwd://'.length), dockerfile), remote: false });
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(context) || context.startsWith('git@')) {
      if (isOwnGitContext(context, opts.github)) {
        out.push({ path: posix.join(gitContextSubdir(context), dockerfile), remote: true });
      }
    } else if (opts.source === '') {
      out.push({ path: resolve(opts.workdir, context, dockerfile), remote: false });
    } else if (isOwnGitContext(opts.source, opts.github)) {
      out.push({ path: posix.join(gitContextSubdir(opts.source), context, dockerfile), remote: true });
    }
  }
  return out;
}

export interface BuildChecksRun {
  /** The metadata file the build wrote. */
  metadataFile: string;
  /** The `call` input: a failed `check` is reported as buildx words it. */
  call: string;
  /** The Dockerfiles the build read (buildDockerfiles, bakeDockerfiles). */
  dockerfiles: DockerfileSource[];
  env?: NodeJS.ProcessEnv;
  /** Where paths are relative to (default: GITHUB_WORKSPACE, else the working directory). */
  workspace?: string;
  /** Writes one annotation (default: core.warning). */
  annotate?: (message: string, properties: BuildCheckAnnotation['properties']) => void;
}

function readJson(file: string): Json | undefined {
  try {
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return isObj(json) ? json : undefined;
  } catch {
    return undefined;
  }
}

/**
 * After a build or bake (failed or not): annotates the build-check warnings of the metadata file (a bake's are at
 * its top level; a check's under each target's `result.json`), then returns the failure to throw: a failed
 * `call: check` becomes buildx's "Check complete, N warnings have been found!" (or the check's own error); any
 * other failure is returned as it came. Best effort: an unreadable metadata file annotates nothing.
 */
export function reportBuildChecks(run: BuildChecksRun, failure: unknown): unknown {
  const env = run.env ?? process.env;
  const metadata = readJson(run.metadataFile) ?? {};
  const warnings = parseMetadataWarnings(metadata['buildx.build.warnings']);
  const results = [metadata, ...Object.values(metadata).filter(isObj)]
    .map((m) => m['result.json'])
    .filter(isObj)
    .map(parseCheckResult);
  for (const r of results) warnings.push(...r.warnings);
  if (warnings.length > 0 && annotationsEnabled(env)) {
    const annotations = toAnnotations(
      warnings,
      run.dockerfiles,
      run.workspace ?? env.GITHUB_WORKSPACE ?? process.cwd(),
    );
    if (annotations.length > 0) {
      core.startGroup(`Generating GitHub annotations (${annotations.length} build checks found)`);
      for (const a of annotations) (run.annotate ?? core.warning)(a.message, a.properties);
      core.endGroup();
    }
  }
  if (failure === undefined || run.call !== 'check' || results.length === 0) return failure;
  const error = results.find((r) => r.error)?.error;
  if (error) return new UserError(`Check failed with: ${error}`);
  return new UserError(checkCompleteLine(results.reduce((n, r) => n + r.warnings.length, 0)));
}
