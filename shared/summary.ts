// Job summaries: a heading and a two-column table. Best effort: a failure to write is a warning, never a failure.
import * as core from '@actions/core';
import { errorMessage } from './errors';
import type { TokenResolution } from './types/token';

export interface SummaryTable {
  heading: string;
  rows: Array<[string, string]>;
  /** Extra tables (e.g. one row per bake target). */
  tables?: Array<{ header: string[]; rows: string[][] }>;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

/** The summary as Markdown. Values are shown as given: callers pass no secret (keys of secrets at most). */
export function renderSummary(s: SummaryTable): string {
  const lines = [`## ${s.heading}`, '', '| | |', '| --- | --- |'];
  for (const [key, value] of s.rows) lines.push(`| ${cell(key)} | ${cell(value)} |`);
  for (const table of s.tables ?? []) {
    lines.push(
      '',
      `| ${table.header.map(cell).join(' | ')} |`,
      `|${table.header.map(() => ' --- |').join('')}`,
    );
    for (const row of table.rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

export async function writeSummary(s: SummaryTable, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!env.GITHUB_STEP_SUMMARY) {
    core.debug('summary.write: GITHUB_STEP_SUMMARY is not set, no job summary');
    return;
  }
  try {
    await core.summary.addRaw(renderSummary(s)).write();
  } catch (err: unknown) {
    core.warning(`Could not write the job summary: ${errorMessage(err)}`);
  }
}

/**
 * The summary's "Isolated" cell: from the build's metadata when the CLI wrote it, else from the token; for a fork
 * pull request it says why (`yes: pull request #12 from fork mallory/web; the project cache is neither read nor
 * written`).
 */
export function isolatedCell(resolution: TokenResolution, fromMetadata?: boolean): string {
  const isolated = fromMetadata ?? (resolution.kind === 'token' ? resolution.isolated : undefined);
  if (isolated === undefined) return '-';
  if (!isolated) return 'no';
  const why = resolution.kind === 'token' ? resolution.isolation : undefined;
  return why ? `yes: ${why}; the project cache is neither read nor written` : 'yes';
}
