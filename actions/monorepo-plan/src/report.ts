// The job summaries of the plan and gather modes. Best effort: a failure to write is a warning.
import * as core from '@actions/core';
import { errorMessage } from '../../../shared/errors';
import { renderSummary } from '../../../shared/summary';
import type { SummaryTable } from '../../../shared/summary';

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
