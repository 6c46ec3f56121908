// The build record, as docker's actions keep it: after the build (success or failure), in the post step,
// `docker buildx history export --finalize` writes the build's record (a .dockerbuild file Docker Desktop's Builds
// view imports), @actions/artifact uploads it as an artifact of the run, and the job summary links it. Best effort:
// an export or upload that fails is a warning, never a failed build.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as core from '@actions/core';
import { satisfies } from './buildx';
import type { BuildxVersion } from './buildx';
import { errorMessage } from './errors';
import { exec } from './exec';
import type { ExecOptions, ExecResult } from './exec';
import { envSwitch } from './summary';
import type { BuildReport, RecordLink } from './summary';

/** `docker buildx history export` came with buildx 0.23 (docker's summary needs it); `--finalize` with 0.24. */
export function historySupport(buildx: BuildxVersion): BuildReport['history'] {
  return { export: satisfies(buildx, '>=0.23.0'), finalize: satisfies(buildx, '>=0.24.0') };
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const REF = /^[^/\s]+\/[^/\s]+\/[^/\s]+$/;

/** The `buildx.build.ref` values (builder/node/ref) of a metadata file's JSON: the build's, or each bake target's. */
export function metadataRefs(raw: string | undefined): string[] {
  if (!raw) return [];
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!isObj(json)) return [];
  const refs: string[] = [];
  const take = (v: unknown) => {
    if (typeof v === 'string' && REF.test(v) && !refs.includes(v)) refs.push(v);
  };
  take(json['buildx.build.ref']);
  for (const [key, value] of Object.entries(json))
    if (!key.includes('.') && isObj(value)) take(value['buildx.build.ref']);
  return refs;
}

/** buildx's config dir, where it keeps `refs/<builder>/<node>/<ref>`: BUILDX_CONFIG, else DOCKER_CONFIG/buildx. */
export function buildxConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BUILDX_CONFIG || join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'buildx');
}

export interface RefsQuery {
  /** The builder's name; every builder's when undefined. */
  builder?: string;
  /** ms since the epoch: only refs buildx wrote since. */
  since: number;
  /** A local context: refs of a build of this directory come first. */
  context?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The refs buildx wrote since `since`, newest first, those of `context` first: how docker's action finds a failed
 * build's record, whose metadata file buildx never wrote.
 */
export function refsSince(q: RefsQuery): string[] {
  const root = join(buildxConfigDir(q.env), 'refs');
  const found: Array<{ ref: string; mtime: number; ours: boolean }> = [];
  const list = (dir: string): string[] => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  const builders = q.builder ? [q.builder] : list(root).filter((b) => b !== '__group__');
  const context = q.context ? resolve(q.context) : undefined;
  for (const builder of builders) {
    for (const node of list(join(root, builder))) {
      for (const id of list(join(root, builder, node))) {
        const file = join(root, builder, node, id);
        try {
          const stat = statSync(file);
          if (!stat.isFile() || stat.mtimeMs < q.since) continue;
          const state = JSON.parse(readFileSync(file, 'utf8')) as { LocalPath?: unknown };
          const ours = context !== undefined && state.LocalPath === context;
          found.push({ ref: `${builder}/${node}/${id}`, mtime: stat.mtimeMs, ours });
        } catch {
          continue;
        }
      }
    }
  }
  found.sort((a, b) => Number(b.ours) - Number(a.ours) || b.mtime - a.mtime);
  return found.map((f) => f.ref);
}

/** The refs to export: the metadata's, else (a failed build) the one buildx wrote since the step started. */
export function buildRefs(q: RefsQuery & { metadata: string | undefined; bake?: boolean }): string[] {
  const refs = metadataRefs(q.metadata);
  if (refs.length > 0) return refs;
  const since = refsSince(q);
  return q.bake ? since : since.slice(0, 1);
}

/** Docker's file name: `<owner>~<repo>~<first ref's id, 6 chars upper case>[+<more>].dockerbuild`. */
export function recordFilename(repository: string, refs: string[]): string {
  const [owner = '', repo = ''] = repository.split('/');
  const id = (refs[0] ?? '').split('/')[2] ?? '';
  const more = refs.length > 1 ? `+${refs.length - 1}` : '';
  return `${owner}~${repo}~${id.slice(0, 6).toUpperCase()}${more}.dockerbuild`;
}

/** DOCKER_BUILD_RECORD_RETENTION_DAYS as a whole number of days; undefined (the repository's default) else. */
export function retentionDays(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.DOCKER_BUILD_RECORD_RETENTION_DAYS?.trim();
  if (!v) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) {
    core.warning(
      `DOCKER_BUILD_RECORD_RETENTION_DAYS must be a whole number of days, got "${v}": the repository's default is used.`,
    );
    return undefined;
  }
  return Number(v);
}

/** Why no record is uploaded, or undefined when it is. */
export function uploadSkipped(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!envSwitch('DOCKER_BUILD_RECORD_UPLOAD', true, env)) {
    return 'Build record upload disabled (DOCKER_BUILD_RECORD_UPLOAD)';
  }
  if (!env.ACTIONS_RUNTIME_TOKEN || !env.ACTIONS_RESULTS_URL) {
    return 'No build record upload: this job has no Actions runtime (ACTIONS_RUNTIME_TOKEN, ACTIONS_RESULTS_URL)';
  }
  const host = new URL(env.GITHUB_SERVER_URL || 'https://github.com').hostname.toUpperCase();
  if (host !== 'GITHUB.COM' && !host.endsWith('.GHE.COM') && !host.endsWith('.GHE.LOCALHOST')) {
    return 'No build record upload: artifacts v2 are not supported on GitHub Enterprise Server';
  }
  return undefined;
}

export interface UploadResult {
  id: number;
  size: number;
}

export interface RecordDeps {
  env?: NodeJS.ProcessEnv;
  exec?: (command: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult>;
  /** Uploads `file` as an artifact named by its file name (default: @actions/artifact, imported on this path). */
  upload?: (file: string, retentionDays: number | undefined) => Promise<UploadResult>;
}

async function uploadArtifact(file: string, days: number | undefined): Promise<UploadResult> {
  const { DefaultArtifactClient } = await import('@actions/artifact');
  const res = await new DefaultArtifactClient().uploadArtifact(
    file.split('/').pop() ?? file,
    [file],
    resolve(file, '..'),
    {
      skipArchive: true,
      ...(days !== undefined ? { retentionDays: days } : {}),
    },
  );
  if (!res.id) throw new Error('the artifact service returned no artifact id');
  return { id: res.id, size: res.size ?? statSync(file).size };
}

/**
 * The post step's record (summaryStep's `recordFor`): export the report's refs, upload the file, and the link for
 * the summary. Undefined, after one line saying why, when there is nothing to upload or it failed (a warning).
 */
export async function uploadBuildRecord(
  report: BuildReport,
  deps: RecordDeps = {},
): Promise<RecordLink | undefined> {
  const env = deps.env ?? process.env;
  const skipped = uploadSkipped(env);
  if (skipped) {
    core.info(skipped);
    return undefined;
  }
  if (!report.history.export) {
    core.info('No build record: `docker buildx history export` needs buildx >= 0.23');
    return undefined;
  }
  const [first] = report.refs;
  if (!first) {
    core.info('No build record: buildx wrote no build reference');
    return undefined;
  }
  const builder = first.split('/')[0] ?? '';
  const refs = report.refs.filter((r) => r.startsWith(`${builder}/`));
  const dir = mkdtempSync(join(env.RUNNER_TEMP || tmpdir(), 'depot-record-'));
  try {
    return await core.group('Build record', async () => {
      const repository = env.GITHUB_REPOSITORY ?? '';
      const file = join(dir, recordFilename(repository, refs));
      const args = ['buildx', 'history', 'export', '--builder', builder];
      if (report.history.finalize) args.push('--finalize');
      args.push('--output', file, ...refs.map((r) => r.split('/')[2] ?? r));
      core.info(`docker ${args.join(' ')}`);
      const res = await (deps.exec ?? exec)('docker', args, { silent: true, stdin: 'ignore' });
      if (res.exitCode !== 0) {
        core.warning(`Build record not exported: ${res.lastStderrLine || `docker exited ${res.exitCode}`}`);
        return undefined;
      }
      const size = statSync(file).size;
      core.info(`Build record written to ${file} (${size} bytes)`);
      let uploaded: UploadResult;
      try {
        uploaded = await (deps.upload ?? uploadArtifact)(file, retentionDays(env));
      } catch (err: unknown) {
        core.warning(`Build record not uploaded: ${errorMessage(err)}`);
        return undefined;
      }
      const server = (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
      const url = `${server}/${repository}/actions/runs/${env.GITHUB_RUN_ID ?? ''}/artifacts/${uploaded.id}`;
      core.info(`Artifact download URL: ${url}`);
      return { name: recordFilename(repository, refs), url, size: uploaded.size };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
