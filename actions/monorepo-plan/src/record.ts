// Mode record: one matrix leg's result (the digest, the build's duration and cached steps) saved as a small
// artifact, depot-monorepo-<name>, for the gather job: matrix legs cannot set distinct job outputs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import { errorMessage } from '../../../shared/errors';
import { exec } from '../../../shared/exec';

export const ARTIFACT_PREFIX = 'depot-monorepo-';
export const RECORD_FILE = 'record.json';

/** What a leg recorded. Every field a string; '-' when not known. */
export interface LegRecord {
  name: string;
  target: string;
  digest: string;
  /** buildx.build.ref: builder/node/ref. */
  ref: string;
  duration: string;
  /** `cached/total` steps. */
  cached: string;
}

/** The parts of the build's metadata a record keeps (for bake: the `target`'s entry of the map). */
export function fromMetadata(metadata: string, target: string): { digest: string; ref: string } {
  let json: unknown;
  try {
    json = JSON.parse(metadata);
  } catch {
    return { digest: '', ref: '' };
  }
  const isObj = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(json)) return { digest: '', ref: '' };
  let meta: Record<string, unknown> = json;
  const picked = target ? json[target] : undefined;
  if (isObj(picked)) meta = picked;
  else if (!('containerimage.digest' in json)) {
    // A bake map with one target and no `target` input: that target's entry.
    const entries = Object.values(json).filter(isObj);
    if (entries.length === 1 && entries[0]) meta = entries[0];
  }
  const s = (v: unknown) => (typeof v === 'string' ? v : '');
  return { digest: s(meta['containerimage.digest']), ref: s(meta['buildx.build.ref']) };
}

/** Duration and cached steps from `docker buildx history inspect` (buildx 0.29's JSON), '-' when unknown. */
export async function fromHistory(ref: string): Promise<{ duration: string; cached: string }> {
  const unknown = { duration: '-', cached: '-' };
  const [builder, , id] = ref.split('/');
  if (!builder || !id) return unknown;
  try {
    const r = await exec(
      'docker',
      ['buildx', 'history', 'inspect', '--builder', builder, id, '--format', 'json'],
      {
        captureStdout: true,
        silent: true,
        stdin: 'ignore',
      },
    );
    if (r.exitCode !== 0) {
      core.info(`No build history for ${ref}: ${r.lastStderrLine || `exit ${r.exitCode}`}`);
      return unknown;
    }
    return historyFields(JSON.parse(r.stdout) as Record<string, unknown>);
  } catch (err: unknown) {
    core.info(`No build history for ${ref}: ${errorMessage(err)}`);
    return unknown;
  }
}

export function historyFields(h: Record<string, unknown>): { duration: string; cached: string } {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const ns = num(h.Duration);
  const cached = num(h.NumCachedSteps);
  const total = num(h.NumTotalSteps);
  return {
    duration: ns === undefined ? '-' : `${(ns / 1e9).toFixed(1)} s`,
    cached: cached === undefined || total === undefined ? '-' : `${cached}/${total}`,
  };
}

/** The slice of @actions/artifact's client record and gather use (loaded only by those modes). */
export interface ArtifactStore {
  uploadArtifact(
    name: string,
    files: string[],
    rootDirectory: string,
    options?: { retentionDays?: number },
  ): Promise<{ id?: number; size?: number }>;
  listArtifacts(options?: { latest?: boolean }): Promise<{ artifacts: Array<{ id: number; name: string }> }>;
  downloadArtifact(id: number, options?: { path?: string }): Promise<{ downloadPath?: string }>;
}

export async function defaultStore(): Promise<ArtifactStore> {
  const { DefaultArtifactClient } = await import('@actions/artifact');
  return new DefaultArtifactClient();
}

/** Uploads the record; a failure is a warning (the image was built), and gather shows the leg without a record. */
export async function uploadRecord(record: LegRecord, store: ArtifactStore): Promise<boolean> {
  const dir = mkdtempSync(join(process.env.RUNNER_TEMP || tmpdir(), 'depot-monorepo-'));
  try {
    const file = join(dir, RECORD_FILE);
    writeFileSync(file, `${JSON.stringify({ version: 1, ...record }, null, 2)}\n`);
    const r = await store.uploadArtifact(`${ARTIFACT_PREFIX}${record.name}`, [file], dir, {
      retentionDays: 1,
    });
    core.info(`Recorded ${record.name} as artifact ${ARTIFACT_PREFIX}${record.name} (id ${r.id ?? '?'})`);
    return true;
  } catch (err: unknown) {
    core.warning(
      `Could not upload the record of ${record.name} for the gather job (${errorMessage(err)}): its digest will be missing from the workflow's digests output.`,
    );
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
