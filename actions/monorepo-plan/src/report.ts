// The job summaries of the plan and gather modes. Best effort: a failure to write is a warning.
import * as core from '@actions/core';
import { errorMessage } from '../../../shared/errors';
import { renderSummary } from '../../../shared/summary';
import type { SummaryTable } from '../../../shared/summary';
import type { Plan } from './plan';

export const NOTHING_CHANGED = 'Nothing changed that any image builds from: no image is built.';

/** A summary table, and a sentence under it when there is one. */
export function renderReport(table: SummaryTable, sentence?: string): string {
  const text = renderSummary(table);
  return sentence ? `${text}\n${sentence}\n` : text;
}

export async function writeReport(
  table: SummaryTable,
  sentence?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (!env.GITHUB_STEP_SUMMARY) {
    core.debug('report.write: GITHUB_STEP_SUMMARY is not set, no job summary');
    return;
  }
  try {
    await core.summary.addRaw(renderReport(table, sentence)).write();
  } catch (err: unknown) {
    core.warning(`Could not write the job summary: ${errorMessage(err)}`);
  }
}

/** The plan's summary: where the images come from, what changed, and one row per image built with its reason. */
export function planTable(p: Plan, bakeFiles: string[]): SummaryTable {
  const rows: Array<[string, string]> = [
    ['Images from', p.mode === 'bake' ? `bake file ${bakeFiles.join(', ')}` : 'image directories'],
    ['Changes', p.everything ?? (p.range ? `${p.range}: ${p.changes.length} changed paths` : '-')],
    ['Built', `${p.include.length} image${p.include.length === 1 ? '' : 's'}`],
  ];
  if (p.deleted.length > 0) rows.push(['Deleted, not built', p.deleted.join(', ')]);
  return {
    heading: 'Monorepo plan',
    rows,
    tables:
      p.include.length > 0
        ? [
            {
              header: ['Image', 'Why it is built', 'Platforms', 'Tags'],
              rows: p.include.map((e) => [e.name, e.reason, e.platforms || 'default', e.tags || '-']),
            },
          ]
        : [],
  };
}
