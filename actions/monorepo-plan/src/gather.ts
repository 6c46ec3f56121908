// Mode gather: every leg's record (the run's depot-monorepo-* artifacts) read back into the workflow's outputs and
// one summary table over the plan.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import { z } from 'zod';
import { errorMessage, UserError } from '../../../shared/errors';
import type { SummaryTable } from '../../../shared/summary';
import type { ArtifactStore, LegRecord } from './record';
import { ARTIFACT_PREFIX, RECORD_FILE } from './record';

export const NOT_BUILT = 'not built (its leg failed or was skipped)';

const PlanJson = z.looseObject({
  include: z.array(z.looseObject({ name: z.string(), reason: z.string().optional() })).optional(),
});

export interface Planned {
  name: string;
  reason: string;
}

/** The plan's matrix output; '' (no plan) is an empty plan. */
export function parsePlan(text: string): Planned[] {
  if (text.trim() === '') return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError("Input `plan` is not JSON: pass the plan job's `matrix` output.");
  }
  const parsed = PlanJson.safeParse(json);
  if (!parsed.success) {
    throw new UserError(
      'Input `plan` is not a matrix ({"include": [...]}): pass the plan job\'s `matrix` output.',
    );
  }
  return (parsed.data.include ?? []).map((e) => ({ name: e.name, reason: e.reason ?? '' }));
}

const RecordJson = z.looseObject({
  name: z.string(),
  target: z.string().optional(),
  digest: z.string().optional(),
  ref: z.string().optional(),
  duration: z.string().optional(),
  cached: z.string().optional(),
});

/** The records the run's legs uploaded, by image name. */
export async function readRecords(store: ArtifactStore): Promise<Map<string, LegRecord>> {
  let listed: Array<{ id: number; name: string }>;
  try {
    listed = (await store.listArtifacts({ latest: true })).artifacts;
  } catch (err: unknown) {
    throw new UserError(
      `Could not list this run's artifacts (${errorMessage(err)}): the gather job needs the Actions runtime.`,
    );
  }
  const records = new Map<string, LegRecord>();
  for (const artifact of listed.filter((a) => a.name.startsWith(ARTIFACT_PREFIX))) {
    const dir = mkdtempSync(join(process.env.RUNNER_TEMP || tmpdir(), 'depot-gather-'));
    try {
      await store.downloadArtifact(artifact.id, { path: dir });
      const file = join(dir, RECORD_FILE);
      if (!existsSync(file)) {
        core.warning(`Artifact ${artifact.name} holds no ${RECORD_FILE}: skipped.`);
        continue;
      }
      const parsed = RecordJson.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      if (!parsed.success) {
        core.warning(`Artifact ${artifact.name} holds no record: skipped.`);
        continue;
      }
      const r = parsed.data;
      records.set(r.name, {
        name: r.name,
        target: r.target ?? '',
        digest: r.digest ?? '',
        ref: r.ref ?? '',
        duration: r.duration ?? '-',
        cached: r.cached ?? '-',
      });
    } catch (err: unknown) {
      core.warning(`Could not read artifact ${artifact.name}: ${errorMessage(err)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return records;
}

export interface Gathered {
  digests: Record<string, string>;
  built: string[];
  table: SummaryTable;
}

/** The outputs and the summary from the plan and the records (planned images first, in the plan's order). */
export function gathered(planned: Planned[], records: Map<string, LegRecord>): Gathered {
  const digests: Record<string, string> = {};
  const built: string[] = [];
  const rows: string[][] = [];
  const names = [
    ...planned.map((p) => p.name),
    ...[...records.keys()].filter((n) => !planned.some((p) => p.name === n)),
  ];
  for (const name of names) {
    const record = records.get(name);
    const reason = planned.find((p) => p.name === name)?.reason ?? '-';
    if (!record) {
      rows.push([name, reason, NOT_BUILT, '-', '-']);
      continue;
    }
    built.push(name);
    if (record.digest) digests[name] = record.digest;
    rows.push([name, reason, record.digest || '-', record.duration, record.cached]);
  }
  return {
    digests,
    built,
    table: {
      heading: 'Monorepo build',
      rows: [
        ['Planned', String(planned.length)],
        ['Built', String(built.length)],
      ],
      tables:
        rows.length > 0
          ? [{ header: ['Image', 'Why it was built', 'Digest', 'Duration', 'Cached steps'], rows }]
          : [],
    },
  };
}
