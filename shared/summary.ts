// Job summaries, written in the post step as docker's actions write theirs, so a failed build has one too: main
// saves a BuildReport in the step's state, post renders it (with the build record's link when one was uploaded).
// Best effort: a failure to write is a warning, never a failure.
import * as core from '@actions/core';
import { errorMessage } from './errors';
import type { DepotBuildInfo } from './metadata';
import type { BuildRun } from './step';
import type { TokenResolution } from './types/token';

export interface SummaryTable {
  heading: string;
  rows: Array<[string, string]>;
  /** Extra tables (e.g. one row per bake target). */
  tables?: Array<{ header: string[]; rows: string[][] }>;
  /** The uploaded build record, linked in its own row. */
  record?: RecordLink;
  /** The inputs used (name -> value as shown), in a collapsible table. */
  inputs?: Record<string, string>;
}

export interface RecordLink {
  /** The artifact's file name (`owner~repo~ABCDEF.dockerbuild`). */
  name: string;
  /** `${GITHUB_SERVER_URL}/${repo}/actions/runs/${runId}/artifacts/${id}`. */
  url: string;
  size: number;
}

/** What the post step needs to write the summary and export the build record; saved by main as JSON state. */
export interface BuildReport {
  heading: string;
  status: 'success' | 'failed';
  /** The failure's one line, for a failed build. */
  error?: string;
  /** ms since the epoch: main's start and the build's end. */
  startedAt: number;
  finishedAt: number;
  /** The `call` input: no summary for a call other than build, as docker's. */
  call: string;
  digest?: string;
  tags: string[];
  platforms: string[];
  project: string;
  buildId: string;
  isolated: string;
  builtWith: string;
  /** bake: one row per target. */
  targets?: Array<{ name: string; platforms: string; tags: string; digest: string }>;
  /** Non-empty inputs, secrets reduced to their keys (summaryInputs). */
  inputs: Record<string, string>;
  /** The build records to export (`builder/node/ref`, buildx.build.ref). */
  refs: string[];
  /** `docker buildx history export` exists (buildx >= 0.23) and takes --finalize (>= 0.24). */
  history: { export: boolean; finalize: boolean };
}

const REPORT_STATE = 'buildReport';

export function saveBuildReport(report: BuildReport): void {
  core.saveState(REPORT_STATE, JSON.stringify(report));
}

export function loadBuildReport(): BuildReport | undefined {
  const raw = core.getState(REPORT_STATE);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as BuildReport;
  } catch {
    core.debug('summary.loadBuildReport: the saved report is not JSON');
    return undefined;
  }
}

/**
 * An env switch as docker's actions read theirs (DOCKER_BUILD_SUMMARY, DOCKER_BUILD_RECORD_UPLOAD): unset is
 * `fallback`; a value that is not a boolean is a warning naming the variable, and `fallback`.
 */
export function envSwitch(name: string, fallback: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[name]?.trim();
  if (v === undefined || v === '') return fallback;
  if (['true', 'True', 'TRUE', '1'].includes(v)) return true;
  if (['false', 'False', 'FALSE', '0'].includes(v)) return false;
  core.warning(`${name} must be true or false, got "${v}": taken as ${fallback}.`);
  return fallback;
}

/** Inputs shown by key only (the part before `=`), never by value. */
const KEYED_SECRETS = new Set(['secrets', 'secret-envs', 'secret-files']);
/** Inputs never shown, or shown as `***` when given. */
const HIDDEN = new Set(['github-token']);
const MASKED = new Set(['token']);

/**
 * The inputs as docker's summary lists them: the non-empty ones (no false boolean, empty string or list), the
 * secrets by key only, `github-token` left out and `token` as `***`. Lists are one value a line; values that are
 * neither strings, numbers, booleans nor lists of strings are left out.
 */
export function summaryInputs(inputs: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(inputs as Record<string, unknown>)) {
    if (HIDDEN.has(name)) continue;
    if (MASKED.has(name)) {
      if (value !== '' && value !== undefined) out[name] = '***';
      continue;
    }
    if (KEYED_SECRETS.has(name)) {
      const keys = (Array.isArray(value) ? value : [])
        .map((entry) => (typeof entry === 'string' ? entry.slice(0, Math.max(entry.indexOf('='), 0)) : ''))
        .filter((key) => key !== '');
      if (keys.length > 0) out[name] = keys.join('\n');
      continue;
    }
    if (typeof value === 'string' && value !== '') out[name] = value;
    else if (typeof value === 'number') out[name] = String(value);
    else if (value === true) out[name] = 'true';
    else if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) {
      out[name] = value.join('\n');
    }
  }
  return out;
}

/** The project, build id, isolation and builder cells of a build that ran (`built`) or failed (metadata only). */
export function depotCells(
  built: BuildRun | undefined,
  depot: DepotBuildInfo | undefined,
): Pick<BuildReport, 'project' | 'buildId' | 'isolated' | 'builtWith'> {
  const via = built?.result.via ?? (depot ? 'depot' : undefined);
  return {
    project: depot?.projectID ?? (via === 'buildx' ? 'none (plain buildx)' : built ? 'none' : '-'),
    buildId: depot?.buildID ?? '-',
    isolated: isolatedCell(built?.resolution, depot?.isolated),
    builtWith: via === 'depot' ? 'depot' : via === 'buildx' ? 'docker buildx (fallback)' : '-',
  };
}

/** Why post writes no summary for this report, or undefined when it writes one. */
export function summarySkipped(
  report: BuildReport,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (!envSwitch('DOCKER_BUILD_SUMMARY', true, env)) return 'Build summary disabled (DOCKER_BUILD_SUMMARY)';
  if (report.call && report.call !== 'build') return `Build summary skipped for ${report.call} subrequest`;
  return undefined;
}

/** The report as the summary's tables. */
export function reportSummary(report: BuildReport, record?: RecordLink): SummaryTable {
  const rows: Array<[string, string]> = [
    ['Status', report.status === 'success' ? ':white_check_mark: success' : ':x: failed'],
  ];
  if (report.error) rows.push(['Error', report.error]);
  rows.push(['Duration', `${((report.finishedAt - report.startedAt) / 1000).toFixed(1)} s`]);
  if (!report.targets) {
    rows.push(
      ['Digest', report.digest ?? '-'],
      ['Tags', report.tags.join(', ') || '-'],
      ['Platforms', report.platforms.join(', ') || 'default'],
    );
  }
  rows.push(
    ['Project', report.project],
    ['Build id', report.buildId],
    ['Isolated', report.isolated],
    ['Built with', report.builtWith],
  );
  const table: SummaryTable = { heading: report.heading, rows, inputs: report.inputs };
  if (report.targets) {
    table.tables = [
      {
        header: ['Target', 'Platforms', 'Tags', 'Digest'],
        rows: report.targets.map((t) => [t.name, t.platforms, t.tags, t.digest]),
      },
    ];
  }
  if (record) table.record = record;
  return table;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function cell(text: string): string {
  return escapeHtml(text).replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** The summary as Markdown. Values are shown as given (escaped): callers pass no secret (keys of secrets at most). */
export function renderSummary(s: SummaryTable): string {
  const lines = [`## ${s.heading}`, '', '| | |', '| --- | --- |'];
  for (const [key, value] of s.rows) lines.push(`| ${cell(key)} | ${cell(value)} |`);
  if (s.record) {
    const link = `<a href="${escapeHtml(s.record.url)}">${cell(s.record.name)}</a>`;
    lines.push(`| Build record | ${link} (${fileSize(s.record.size)}) |`);
  }
  for (const table of s.tables ?? []) {
    lines.push(
      '',
      `| ${table.header.map(cell).join(' | ')} |`,
      `|${table.header.map(() => ' --- |').join('')}`,
    );
    for (const row of table.rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  }
  if (s.record) {
    lines.push(
      '',
      'Import the build record into Docker Desktop\u2019s Builds view for its timing, steps, logs and traces.',
    );
  }
  const inputs = Object.entries(s.inputs ?? {});
  if (inputs.length > 0) {
    lines.push(
      '',
      '<details><summary><strong>Build inputs</strong></summary>',
      '',
      '| Input | Value |',
      '| --- | --- |',
    );
    for (const [name, value] of inputs) lines.push(`| ${cell(name)} | ${cell(value)} |`);
    lines.push('', '</details>');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The post step's summary: the report main saved, with the build record when `recordFor` exports and uploads one
 * (it is asked only when a summary is written, as docker's actions export no record without one). Nothing to do
 * when main saved no report (it failed before building).
 */
export async function summaryStep(
  recordFor?: (report: BuildReport) => Promise<RecordLink | undefined>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const report = loadBuildReport();
  if (!report) return;
  const skipped = summarySkipped(report, env);
  if (skipped) {
    core.info(skipped);
    return;
  }
  let record: RecordLink | undefined;
  try {
    record = recordFor ? await recordFor(report) : undefined;
  } catch (err: unknown) {
    core.warning(`Build record not uploaded: ${errorMessage(err)}`);
  }
  await writeSummary(reportSummary(report, record), env);
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
export function isolatedCell(resolution: TokenResolution | undefined, fromMetadata?: boolean): string {
  const isolated = fromMetadata ?? (resolution?.kind === 'token' ? resolution.isolated : undefined);
  if (isolated === undefined) return '-';
  if (!isolated) return 'no';
  const why = resolution?.kind === 'token' ? resolution.isolation : undefined;
  return why ? `yes: ${why}; the project cache is neither read nor written` : 'yes';
}
