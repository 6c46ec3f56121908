// Reading action inputs once, the way the runner passes them (INPUT_<NAME>) and docker's actions split them.
import * as core from '@actions/core';
import { parse } from 'csv-parse/sync';
import { UserError } from './errors';

export interface ListOptions {
  /** Split on newlines only: `cache-to: type=registry,ref=x,mode=max` stays one item. */
  ignoreComma?: boolean;
  /** The CSV quote character; `false` turns quoting off (docker/build-push-action does so for `outputs`). */
  quote?: string | false;
  /** Keep surrounding white space (secrets). */
  trimWhitespace?: boolean;
}

/**
 * Splits a list input exactly as docker/build-push-action v6 does: CSV records (quotes honoured), one item per
 * line, and with `ignoreComma` off each comma-separated field is its own item. Empty items are dropped.
 */
export function parseList(input: string, opts: ListOptions = {}): string[] {
  if (input === '') return [];
  const records = parse(input, {
    columns: false,
    relaxQuotes: true,
    relaxColumnCount: true,
    skipEmptyLines: true,
    quote: opts.quote === false ? null : (opts.quote ?? '"'),
  }) as string[][];
  const items: string[] = [];
  for (const record of records) {
    if (record.length === 1) {
      const only = record[0] ?? '';
      items.push(...(opts.ignoreComma ? [only] : only.split(',')));
    } else if (opts.ignoreComma) {
      items.push(record.join(','));
    } else {
      items.push(...record);
    }
  }
  return items
    .filter((item) => item !== '')
    .map((item) => (opts.trimWhitespace === false ? item : item.trim()));
}

export function getList(name: string, opts: ListOptions = {}): string[] {
  return parseList(core.getInput(name, { trimWhitespace: opts.trimWhitespace !== false }), opts);
}

export function getString(name: string): string {
  return core.getInput(name);
}

const TRUE = ['true', 'True', 'TRUE'];
const FALSE = ['false', 'False', 'FALSE'];

/** A boolean by the YAML 1.2 core schema, as core.getBooleanInput reads it; empty means `fallback`. */
export function parseBoolean(name: string, value: string, fallback = false): boolean {
  if (value === '') return fallback;
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new UserError(`Input \`${name}\` must be true or false, got "${value}".`);
}

export function getBoolean(name: string, fallback = false): boolean {
  return parseBoolean(name, core.getInput(name), fallback);
}

/** A whole number of seconds (0 or more); empty means `fallback`. */
export function parseSeconds(name: string, value: string, fallback: number): number {
  const v = value.trim();
  if (v === '') return fallback;
  if (!/^\d{1,9}$/.test(v)) {
    throw new UserError(
      `Input \`${name}\` must be a whole number of seconds such as ${fallback}, got "${value}".`,
    );
  }
  return Number(v);
}

export function getSeconds(name: string, fallback: number): number {
  return parseSeconds(name, core.getInput(name), fallback);
}

/** One of `allowed`, or an alias of one; empty means `fallback`. */
export function getChoice<T extends string>(
  name: string,
  allowed: readonly T[],
  opts: { fallback?: T | ''; aliases?: Record<string, T> } = {},
): T | '' {
  const value = core.getInput(name);
  if (value === '') return opts.fallback ?? '';
  const normalized = value.toLowerCase();
  const alias = opts.aliases?.[normalized];
  if (alias) return alias;
  const match = allowed.find((a) => a === normalized);
  if (match) return match;
  throw new UserError(`Input \`${name}\` must be one of ${allowed.join(', ')}; got "${value}".`);
}

/** A URL input: http(s) only, a trailing slash removed. */
export function parseUrl(name: string, value: string): string {
  if (value === '') return '';
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'https:' && url?.protocol !== 'http:') {
    throw new UserError(`Input \`${name}\` must be an http(s) URL, got "${withoutCredentials(value)}".`);
  }
  return value.replace(/\/+$/, '');
}

/** A URL as it may be shown: any `user:pass@` replaced by `***@`. */
export function withoutCredentials(raw: string): string {
  return raw.replace(/^([^/@]*\/\/)?[^/@]*@/, '$1***@');
}
