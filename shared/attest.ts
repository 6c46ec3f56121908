// Attestations and exporters, read as docker's actions read them (provenance defaults, `builder-id`, exporters).
import { parse } from 'csv-parse/sync';
import { parseBoolean } from './inputs';
import type { GithubContext } from './types/github';
import { workflowRunUrl } from './github';

export function csvRecords(text: string): string[][] {
  return parse(text, {
    delimiter: ',',
    trim: true,
    columns: false,
    relaxColumnCount: true,
    relaxQuotes: true,
  }) as string[][];
}

/** Whether an exporter of `type` is among the outputs (an output with no type= is a local one, as in buildx). */
export function hasExporter(type: string, outputs: string[], load = false): boolean {
  if (type === 'docker' && load) return true;
  for (const record of csvRecords(outputs.join('\n'))) {
    if (record.length === 1 && !record[0]?.startsWith('type=')) return type === 'local';
    if (record.some((field) => field.replace(/\s/g, '') === `type=${type}`)) return true;
  }
  return false;
}

export function hasAttestType(type: string, attest: string): boolean {
  return csvRecords(attest).some((record) =>
    record.some((field) => field.replace(/\s/g, '') === `type=${type}`),
  );
}

/** Go's strconv.ParseBool, which buildx applies to attestation attributes. */
export function goBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  return undefined;
}

/** `true` -> `disabled=false`, `false` -> `disabled=true`, other attributes kept. */
export function resolveAttestAttrs(attrs: string): string {
  return csvRecords(attrs)
    .flat()
    .map((attr) => {
      const b = goBool(attr);
      return b === undefined ? attr : `disabled=${!b}`;
    })
    .join(',');
}

/** Adds `builder-id=<run URL>` unless the attributes name one. */
export function withBuilderId(attrs: string, ctx: GithubContext): string {
  const runUrl = workflowRunUrl(ctx);
  if (!attrs) return `builder-id=${runUrl}`;
  const fields = csvRecords(attrs)[0] ?? [];
  return fields.some((f) => f.split('=')[0]?.trim() === 'builder-id')
    ? attrs
    : `${attrs},builder-id=${runUrl}`;
}

/** The `provenance` input: a boolean becomes `builder-id=…` or `false`, attributes get a builder-id. */
export function provenanceValue(input: string, ctx: GithubContext): string {
  if (!input) return '';
  try {
    return parseBoolean('provenance', input) ? withBuilderId('', ctx) : 'false';
  } catch {
    return withBuilderId(input, ctx);
  }
}

/** The provenance docker's actions add when the user set none: max for public repositories, min for private. */
export function defaultProvenance(ctx: GithubContext): string {
  return withBuilderId(ctx.privateRepository ? 'mode=min,inline-only=true' : 'mode=max', ctx);
}

export function noDefaultAttestations(env: NodeJS.ProcessEnv): boolean {
  const v = env.BUILDX_NO_DEFAULT_ATTESTATIONS;
  return v !== undefined && v !== '' && goBool(v) !== false;
}
