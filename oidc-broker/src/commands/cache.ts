// `broker cache usage|prune|reset`: the cache registry's project caches, kept within `cache:` limits (issue 26).
//
// The broker is the registry's token service, so it mints itself short registry tokens (registry-token.ts's format,
// signed by the registry signer in its store) with exactly what each call needs: pull to read a cache repository,
// delete to prune it, push on one repository for the read-only probe. Tokens minted to CI never carry delete.
//
// Sizes come from the distribution API: every tag's manifest (BuildKit's registry cache is an OCI image manifest whose
// config is `application/vnd.buildkit.cacheconfig.v0`, or with older exporters an image index whose entries are the
// layers and that cache config), counted as the manifests plus the unique blobs they reference, each blob once per
// project however many tags share it.
//
// A tag's age: the registry keeps no dates it would tell (no Last-Modified on manifests), so the age is read from
// what BuildKit wrote into the cache: the newest `createdAt` of the cache config's records and the newest
// `buildkit/createdat` layer annotation, i.e. when the newest build result in that cache was made. A build that
// re-exports an unchanged cache writes the same manifest (same dates): such a cache ages, and is rebuilt once when
// it passes max_age. A plain image's config `created` is used the same way; a tag with no date at all is never
// pruned for its age, and goes first when the project is above max_size.
//
// Garbage collection (`docker-registry garbage-collect --delete-untagged FILE`) frees the blobs of deleted tags; it
// must not run while the registry accepts writes (a push in flight would reference blobs it deletes). With
// --registry-config it runs only after the registry at --registry refused an upload (405: read-only maintenance
// mode); else the command says how to collect them.
//
// `cache prune --every 24h` repeats the prune in a long-running process: the image's schedule (a second container of
// the broker image on the same data volume or database), where no systemd timer runs.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SignJWT } from 'jose';
import type { BrokerConfig, CacheLimits, ProjectConfig } from '../config';
import { ConfigProblems, loadConfig } from '../config';
import { parseDuration } from '../duration';
import { ConfigError, errorMessage } from '../errors';
import { KeyStore, REGISTRY_TOKEN_TTL } from '../keys';
import type { Settings } from '../settings';
import { openStore } from '../store';
import { reportAdopted } from '../store/adopt';
import { storeConfigOf, whileCommandHolds } from './state';

export const CACHE_CONFIG_TYPE = 'application/vnd.buildkit.cacheconfig.v0';
const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const IMAGE_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);
const IMAGE_CONFIG_TYPES = new Set([
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
]);
const ACCEPT = [...INDEX_TYPES, ...IMAGE_TYPES].join(', ');
/** Manifests and the configs read for dates are small; anything bigger is not what we think it is. */
const MAX_DOCUMENT = 16 * 2 ** 20;
const TIMEOUT_MS = 30_000;
/** The gc's `--delete-untagged`: manifests no tag points at (the ones deleted here, and orphans) go too. */
export const GC_ARGS = ['garbage-collect', '--delete-untagged'];
const READ_ONLY_ENV = `REGISTRY_STORAGE_MAINTENANCE_READONLY='{enabled: true}'`;

type Fetch = typeof fetch;

/** Reads an answer's (small: empty or an error) body to its end, so the connection is free again. */
async function discard(res: Response): Promise<void> {
  await res.arrayBuffer().catch(() => undefined);
}

/** Registry tokens for one repository and actions. */
export type TokenSource = (repository: string, actions: string[]) => Promise<string>;

/** Registry tokens signed by the broker's registry signer, as its token service signs them (registry-token.ts). */
export function selfTokens(config: BrokerConfig, keys: KeyStore): TokenSource {
  const cache = new Map<string, { token: string; until: number }>();
  return async (repository, actions) => {
    const key = `${repository} ${actions.join(',')}`;
    const now = Math.floor(Date.now() / 1000);
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.token;
    const signer = keys.registrySigner();
    const exp = Math.min(now + REGISTRY_TOKEN_TTL, signer.notAfter);
    const token = await new SignJWT({ access: [{ type: 'repository', name: repository, actions }] })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c: signer.x5c })
      .setIssuer(config.publicUrl)
      .setSubject('broker:cache')
      .setAudience(config.registry.service)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(exp)
      .sign(signer.key);
    cache.set(key, { token, until: exp - 60 });
    return token;
  };
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface ManifestDoc {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

/** The distribution API, as the broker itself. Every failure is one ConfigError line naming the URL. */
export class CacheRegistry {
  readonly url: string;

  constructor(
    url: string,
    private readonly tokens: TokenSource,
    private readonly fetchImpl: Fetch = fetch,
  ) {
    this.url = url.replace(/\/+$/, '');
  }

  private async call(
    method: string,
    repository: string,
    path: string,
    actions: string[],
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.url}/v2/${repository}/${path}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: { ...headers, authorization: `Bearer ${await this.tokens(repository, actions)}` },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err: unknown) {
      const cause =
        err instanceof Error && err.cause instanceof Error ? err.cause.message : errorMessage(err);
      throw new ConfigError(
        `the cache registry at ${this.url} does not answer (${cause}): check --registry (default http://<registry.host> of the config) and that the registry runs`,
      );
    }
    if (res.status === 401 || res.status === 403) {
      await discard(res);
      throw new ConfigError(
        `the cache registry at ${this.url} refused the broker's own token (${res.status} on ${method} /v2/${repository}/...): is it the registry whose token service is this broker (its auth.token.rootcertbundle the CA in --data-dir, as registry-config prints) and is --data-dir the broker's?`,
      );
    }
    return res;
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = (await res.text().catch(() => '')).slice(0, 200);
    const code = /"code":"([A-Z_]+)"/.exec(text)?.[1];
    throw new ConfigError(
      `the cache registry at ${this.url} answered ${res.status}${code ? ` ${code}` : ''} to ${what}`,
    );
  }

  private async readCapped(res: Response, what: string): Promise<Buffer> {
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > MAX_DOCUMENT) {
      void res.body?.cancel().catch(() => undefined);
      throw new ConfigError(
        `${what} at ${this.url} is ${length} bytes, more than a manifest or config can be`,
      );
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_DOCUMENT) throw new ConfigError(`${what} at ${this.url} is too big`);
    return body;
  }

  /** Every tag of a repository (none when the repository does not exist yet). */
  async tags(repository: string): Promise<string[]> {
    const out: string[] = [];
    let next: string | undefined = 'tags/list?n=1000';
    while (next) {
      const res = await this.call('GET', repository, next, ['pull']);
      if (res.status === 404) {
        await discard(res);
        return out;
      }
      if (!res.ok) await this.fail(res, `GET /v2/${repository}/tags/list`);
      const body = (await res.json()) as { tags?: string[] | null };
      out.push(...(body.tags ?? []));
      const link = /<([^>]+)>;\s*rel="?next"?/.exec(res.headers.get('link') ?? '')?.[1];
      next = link ? new URL(link, this.url).href : undefined;
    }
    return out;
  }

  /** A manifest by tag or digest: its digest, its bytes' size, and the document; undefined when gone. */
  async manifest(
    repository: string,
    reference: string,
  ): Promise<{ digest: string; size: number; doc: ManifestDoc } | undefined> {
    const res = await this.call('GET', repository, `manifests/${reference}`, ['pull'], { accept: ACCEPT });
    if (res.status === 404) {
      await discard(res);
      return undefined;
    }
    if (!res.ok) await this.fail(res, `GET /v2/${repository}/manifests/${reference}`);
    const body = await this.readCapped(res, `the manifest ${repository}:${reference}`);
    const digest = res.headers.get('docker-content-digest') ?? reference;
    const doc = JSON.parse(body.toString('utf8')) as ManifestDoc;
    if (!doc.mediaType) doc.mediaType = res.headers.get('content-type') ?? undefined;
    return { digest, size: body.length, doc };
  }

  /** A small blob (a config) as JSON; undefined when gone or not JSON. */
  async json(repository: string, digest: string): Promise<unknown> {
    const res = await this.call('GET', repository, `blobs/${digest}`, ['pull']);
    if (res.status === 404) {
      await discard(res);
      return undefined;
    }
    if (!res.ok) await this.fail(res, `GET /v2/${repository}/blobs/${digest}`);
    try {
      return JSON.parse((await this.readCapped(res, `the blob ${digest}`)).toString('utf8')) as unknown;
    } catch (err: unknown) {
      if (err instanceof ConfigError) throw err;
      return undefined;
    }
  }

  /** Deletes a manifest by digest (and so every tag pointing at it). False when it was already gone. */
  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const res = await this.call('DELETE', repository, `manifests/${digest}`, ['pull', 'delete']);
    await discard(res);
    if (res.status === 404) return false;
    if (res.status === 405) {
      throw new ConfigError(
        `the cache registry at ${this.url} does not delete manifests (405): its config needs storage.delete.enabled: true (as registry-config prints it) and it must not be in read-only maintenance mode`,
      );
    }
    if (!res.ok) await this.fail(res, `DELETE /v2/${repository}/manifests/${digest}`);
    return true;
  }

  /**
   * Whether the registry accepts writes: starts a blob upload in `repository` and cancels it at once. A registry in
   * read-only maintenance mode answers 405.
   */
  async acceptsUploads(repository: string): Promise<boolean> {
    // distribution asks `delete` for any DELETE, the upload's cancel too.
    const actions = ['pull', 'push', 'delete'];
    const res = await this.call('POST', repository, 'blobs/uploads/', actions);
    await discard(res);
    if (res.status === 405) return false;
    if (res.status !== 202) await this.fail(res, `POST /v2/${repository}/blobs/uploads/`);
    const location = res.headers.get('location');
    if (location) {
      const cancel = await this.call('DELETE', repository, new URL(location, this.url).href, actions);
      await discard(cancel);
    }
    return true;
  }
}

/** One manifest in a cache repository and every tag pointing at it. */
export interface CacheEntry {
  digest: string;
  tags: string[];
  /** When the newest build result in it was made (seconds), if the cache says. */
  builtAt: number | undefined;
  /** Digest → size of the manifests and blobs it is made of, itself included. */
  parts: Map<string, number>;
}

export interface ProjectCache {
  project: string;
  repository: string;
  limits: CacheLimits;
  entries: CacheEntry[];
}

/** The bytes `entries` hold together: each manifest and blob once. */
export function totalSize(entries: readonly CacheEntry[]): number {
  const seen = new Map<string, number>();
  for (const e of entries) for (const [d, size] of e.parts) seen.set(d, size);
  let total = 0;
  for (const size of seen.values()) total += size;
  return total;
}

function seconds(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : Math.floor(t / 1000);
}

/** The dates a BuildKit cache config carries: each record's layers' createdAt. */
export function cacheConfigDates(config: unknown): number[] {
  const records = (config as { records?: unknown } | undefined)?.records;
  if (!Array.isArray(records)) return [];
  const out: number[] = [];
  for (const r of records as Array<{ layers?: unknown }>) {
    if (!Array.isArray(r?.layers)) continue;
    for (const l of r.layers as Array<{ createdAt?: unknown }>) {
      const t = seconds(l?.createdAt);
      if (t !== undefined) out.push(t);
    }
  }
  return out;
}

/** Reads one tag's manifest (and what it references) into an entry. */
async function readEntry(
  registry: CacheRegistry,
  repository: string,
  tag: string,
): Promise<CacheEntry | undefined> {
  const top = await registry.manifest(repository, tag);
  if (!top) return undefined;
  const parts = new Map<string, number>();
  const dates: number[] = [];
  const blob = (d: Descriptor) => {
    parts.set(d.digest, d.size);
    const t = seconds(d.annotations?.['buildkit/createdat']);
    if (t !== undefined) dates.push(t);
  };
  const configDates = async (d: Descriptor) => {
    if (d.mediaType === CACHE_CONFIG_TYPE)
      dates.push(...cacheConfigDates(await registry.json(repository, d.digest)));
    else if (d.mediaType && IMAGE_CONFIG_TYPES.has(d.mediaType)) {
      const t = seconds(
        ((await registry.json(repository, d.digest)) as { created?: unknown } | undefined)?.created,
      );
      if (t !== undefined) dates.push(t);
    }
  };
  const walk = async (
    m: { digest: string; size: number; doc: ManifestDoc },
    depth: number,
  ): Promise<void> => {
    parts.set(m.digest, m.size);
    if (m.doc.config) {
      blob(m.doc.config);
      await configDates(m.doc.config);
    }
    for (const l of m.doc.layers ?? []) blob(l);
    for (const d of m.doc.manifests ?? []) {
      const nested = d.mediaType && (INDEX_TYPES.has(d.mediaType) || IMAGE_TYPES.has(d.mediaType));
      if (!nested) {
        // An index as BuildKit's cache exporters wrote it before image-manifest=true: layers and the cache config.
        blob(d);
        await configDates(d);
      } else if (!parts.has(d.digest) && depth < 3) {
        const child = await registry.manifest(repository, d.digest);
        if (child) await walk(child, depth + 1);
      }
    }
  };
  await walk(top, 0);
  return {
    digest: top.digest,
    tags: [tag],
    builtAt: dates.length > 0 ? Math.max(...dates) : undefined,
    parts,
  };
}

/** One project's cache: its tags grouped by the manifest they point at. */
export async function readProjectCache(
  registry: CacheRegistry,
  project: ProjectConfig,
): Promise<ProjectCache> {
  const repository = project.cacheRepository;
  const entries = new Map<string, CacheEntry>();
  for (const tag of await registry.tags(repository)) {
    const digest = (await registry.manifest(repository, tag))?.digest;
    if (!digest) continue; // deleted meanwhile
    const known = entries.get(digest);
    if (known) {
      known.tags.push(tag);
      continue;
    }
    const entry = await readEntry(registry, repository, tag);
    if (entry) entries.set(entry.digest, entry);
  }
  return { project: project.id, repository, limits: project.cache, entries: [...entries.values()] };
}

export interface Deletion {
  entry: CacheEntry;
  reason: 'age' | 'size' | 'reset';
}

/** Oldest first; entries with no date before any dated one. */
function byAge(a: CacheEntry, b: CacheEntry): number {
  return (a.builtAt ?? -Infinity) - (b.builtAt ?? -Infinity) || a.digest.localeCompare(b.digest);
}

/** What `cache prune` deletes: every entry past max_age, then the oldest while the rest is above max_size. */
export function planPrune(entries: readonly CacheEntry[], limits: CacheLimits, now: number): Deletion[] {
  const out: Deletion[] = [];
  const kept: CacheEntry[] = [];
  for (const e of [...entries].sort(byAge)) {
    if (e.builtAt !== undefined && now - e.builtAt > limits.maxAge) out.push({ entry: e, reason: 'age' });
    else kept.push(e);
  }
  while (kept.length > 0 && totalSize(kept) > limits.maxSize) {
    out.push({ entry: kept.shift() as CacheEntry, reason: 'size' });
  }
  return out;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function humanSize(bytes: number): string {
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024;
    u += 1;
  }
  return u === 0 ? `${n} B` : `${n.toFixed(1)} ${UNITS[u] ?? ''}`;
}

/** A duration as its largest unit: 45s, 12m, 3h, 2d. */
export function humanAge(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  if (s >= 86_400) return `${Math.floor(s / 86_400)}d`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h`;
  if (s >= 60) return `${Math.floor(s / 60)}m`;
  return `${s}s`;
}

export function limitsText(limits: CacheLimits): string {
  return `${humanSize(limits.maxSize)} / ${humanAge(limits.maxAge)}`;
}

/** The `cache usage` table. */
export function usageTable(caches: readonly ProjectCache[], now: number): string {
  const rows = [['PROJECT', 'REPOSITORY', 'TAGS', 'SIZE', 'LIMITS (SIZE / AGE)', 'OLDEST', 'NEWEST']];
  for (const c of caches) {
    const dates = c.entries.map((e) => e.builtAt).filter((t): t is number => t !== undefined);
    const tags = c.entries.reduce((n, e) => n + e.tags.length, 0);
    const age = (t: number | undefined) => (t === undefined ? '-' : humanAge(now - t));
    rows.push([
      c.project,
      c.repository,
      String(tags),
      humanSize(totalSize(c.entries)),
      limitsText(c.limits),
      age(dates.length > 0 ? Math.min(...dates) : undefined),
      age(dates.length > 0 ? Math.max(...dates) : undefined),
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function describeDeletion(d: Deletion, c: ProjectCache, now: number): string {
  const tags = d.entry.tags.map((t) => `${c.repository}:${t}`).join(', ');
  const built =
    d.entry.builtAt === undefined ? 'no build date' : `built ${humanAge(now - d.entry.builtAt)} ago`;
  const why =
    d.reason === 'age'
      ? `past max_age ${humanAge(c.limits.maxAge)}`
      : d.reason === 'size'
        ? `oldest while above max_size ${humanSize(c.limits.maxSize)}`
        : 'reset';
  return `${tags} (${d.entry.digest.slice(0, 19)}, ${built}: ${why})`;
}

export interface GcResult {
  /** docker-registry's summary ("N blobs marked, M blobs and K manifests eligible for deletion"). */
  summary: string;
}

/** Runs `docker-registry garbage-collect --delete-untagged FILE`; a failure is one line with its last stderr line. */
export function garbageCollect(registryConfigFile: string, program = 'docker-registry'): Promise<GcResult> {
  return new Promise((done, fail) => {
    const child = spawn(program, [...GC_ARGS, registryConfigFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', (err) =>
      fail(new ConfigError(`cannot run ${program} (${err.message}): install Debian's docker-registry`)),
    );
    child.on('close', (code) => {
      const lines = out
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      if (code !== 0) {
        fail(
          new ConfigError(
            `${program} garbage-collect ${registryConfigFile} failed (exit ${code}): ${lines.at(-1) ?? 'no output'}`,
          ),
        );
        return;
      }
      done({ summary: lines.find((l) => /marked, .*eligible for deletion/.test(l)) ?? 'done' });
    });
  });
}

interface Output {
  write(text: string): void;
}

export interface CacheRun {
  config: BrokerConfig;
  registry: CacheRegistry;
  subcommand: 'usage' | 'prune' | 'reset';
  project: string | undefined;
  dryRun: boolean;
  registryConfig: string | undefined;
  out: Output;
  now?: number;
  gc?: (file: string) => Promise<GcResult>;
}

function selectProjects(config: BrokerConfig, id: string | undefined): ProjectConfig[] {
  if (id === undefined) return config.projects;
  const p = config.projects.find((x) => x.id === id);
  if (!p) {
    throw new ConfigError(
      `no project "${id}" in ${config.file}: use one of ${config.projects.map((x) => x.id).join(', ')}`,
    );
  }
  return [p];
}

function gcHint(file: string | undefined): string {
  return `run \`docker-registry ${GC_ARGS.join(' ')} ${file ?? '<the registry config>'}\` with the registry stopped, or \`cache prune --registry-config FILE\` while it runs read-only (${READ_ONLY_ENV} in its environment)`;
}

/** The command, its collaborators given: what main runs, and what the unit tests drive. */
export async function runCache(run: CacheRun): Promise<void> {
  const { config, registry, out } = run;
  const now = run.now ?? Math.floor(Date.now() / 1000);
  const projects = selectProjects(config, run.project);
  if (run.subcommand === 'reset' && run.project === undefined) {
    throw new ConfigError('cache reset empties one project: name it with --project ID');
  }
  if (run.registryConfig !== undefined && !existsSync(run.registryConfig)) {
    throw new ConfigError(
      `--registry-config ${run.registryConfig} does not exist: pass the registry's config file`,
    );
  }
  const caches: ProjectCache[] = [];
  for (const p of projects) caches.push(await readProjectCache(registry, p));
  if (run.subcommand === 'usage') {
    out.write(usageTable(caches, now));
    return;
  }

  const plans = caches.map((c) => ({
    cache: c,
    deletions:
      run.subcommand === 'reset'
        ? c.entries.map((entry): Deletion => ({ entry, reason: 'reset' }))
        : planPrune(c.entries, c.limits, now),
  }));
  const due = plans.reduce((n, p) => n + p.deletions.length, 0);
  if (run.dryRun) {
    for (const { cache, deletions } of plans) {
      for (const d of deletions)
        out.write(`${cache.project}: would delete ${describeDeletion(d, cache, now)}\n`);
      const kept = cache.entries.filter((e) => !deletions.some((d) => d.entry === e));
      out.write(
        `${cache.project}: ${deletions.length} of ${cache.entries.length} manifest(s) would go; ${humanSize(totalSize(cache.entries))} -> ${humanSize(totalSize(kept))}\n`,
      );
    }
    return;
  }

  // With --registry-config the command collects the garbage too, which it does only if the registry takes no writes
  // now: one probe first, as the answer also decides whether the deletions can happen.
  const writable =
    run.registryConfig === undefined
      ? undefined
      : await registry.acceptsUploads(projects[0]?.cacheRepository ?? 'cache/probe');
  let deleted = 0;
  if (due > 0 && writable === false) {
    if (run.subcommand === 'reset') {
      throw new ConfigError(
        `the cache registry at ${registry.url} is read-only: reset deletes tags, so run it while the registry accepts writes, then collect the garbage in a read-only window`,
      );
    }
    out.write(
      `the cache registry at ${registry.url} is read-only: ${due} manifest(s) due are left for a prune while it accepts writes\n`,
    );
  } else {
    for (const { cache, deletions } of plans) {
      for (const d of deletions) {
        await registry.deleteManifest(cache.repository, d.entry.digest);
        deleted += 1;
        out.write(`${cache.project}: deleted ${describeDeletion(d, cache, now)}\n`);
      }
      const kept = cache.entries.filter((e) => !deletions.some((d) => d.entry === e));
      out.write(
        `${cache.project}: ${deletions.length} manifest(s) deleted, ${kept.length} kept; ${humanSize(totalSize(cache.entries))} -> ${humanSize(totalSize(kept))}\n`,
      );
    }
  }

  if (run.registryConfig === undefined) {
    if (deleted > 0)
      out.write(`their blobs are freed at the next garbage collection: ${gcHint(undefined)}\n`);
    return;
  }
  if (writable) {
    throw new ConfigError(
      `not collecting garbage: the cache registry at ${registry.url} accepts uploads, and garbage-collect must not run while it does (a push in flight would lose blobs): restart it read-only (${READ_ONLY_ENV}) and run this again, or stop it and run \`docker-registry ${GC_ARGS.join(' ')} ${run.registryConfig}\``,
    );
  }
  const gc = await (run.gc ?? garbageCollect)(run.registryConfig);
  out.write(`garbage collected (${run.registryConfig}): ${gc.summary}\n`);
}

function isSubcommand(word: string | undefined): word is CacheRun['subcommand'] {
  return word === 'usage' || word === 'prune' || word === 'reset';
}

export async function cacheCommand(s: Settings): Promise<void> {
  const sub = s.args[0];
  if (!isSubcommand(sub)) {
    throw new ConfigError(
      `cache needs a subcommand: usage, prune or reset${sub === undefined ? '' : ` (not "${sub}")`} (see npm run broker -- cache --help)`,
    );
  }
  let config: BrokerConfig;
  try {
    config = loadConfig(s.config);
  } catch (err: unknown) {
    if (err instanceof ConfigProblems) throw new ConfigError(err.problems[0] ?? 'invalid config');
    throw err;
  }
  selectProjects(config, s.flags.get('project'));
  if ((config.store?.engine ?? 'sqlite') === 'sqlite' && !existsSync(join(s.dataDir, 'keys.json'))) {
    throw new ConfigError(
      `no broker keys in ${s.dataDir}: pass the broker's --data-dir (or BROKER_DATA_DIR)`,
    );
  }
  const registryConfig = s.flags.get('registry-config');
  const url = s.flags.get('registry') ?? `http://${config.registry.host}`;
  if (!/^https?:\/\/[^/\s]+\/?$/.test(url)) {
    throw new ConfigError(
      `--registry ${url} is not the registry's base URL (http://HOST:PORT or https://HOST)`,
    );
  }
  const everyText = s.flags.get('every');
  let every: number | undefined;
  if (everyText !== undefined) {
    every = parseDuration(everyText);
    if (sub !== 'prune')
      throw new ConfigError(`--every repeats cache prune only (not cache ${sub}): drop --every`);
    if (every === undefined || every < 60)
      throw new ConfigError(`--every "${everyText}" is not a duration of at least 1m (e.g. 24h)`);
  }
  // The store and keys are opened for each run: a prune repeated for days signs with the signer in force then.
  const once = async (): Promise<void> => {
    // With SQLite, the data dir is held as a command holds it while the state is read: a restore cannot replace it
    // meanwhile (the prune itself talks to the registry only, with the keys read here).
    const keys = await whileCommandHolds(s.dataDir, storeConfigOf(config), async () => {
      const store = await openStore(config, { dataDir: s.dataDir, upgrade: false, onAdopted: reportAdopted });
      try {
        return await KeyStore.open(
          { store, dataDir: s.dataDir },
          { signerTtl: config.registrySignerTtl, keyRotation: config.keyRotation },
        );
      } finally {
        await store.close();
      }
    });
    try {
      await runCache({
        config,
        registry: new CacheRegistry(url, selfTokens(config, keys)),
        subcommand: sub,
        project: s.flags.get('project'),
        dryRun: s.flags.get('dry-run') === 'true',
        registryConfig: registryConfig === undefined ? undefined : resolve(registryConfig),
        out: process.stdout,
      });
    } finally {
      keys.close();
    }
  };
  if (every === undefined) return once();
  return repeatPrune(once, every, (line) => process.stderr.write(`${line}\n`));
}

/**
 * `cache prune --every D` (the image's scheduled prune, a second container of the same image): runs `once` now and
 * then every `seconds`, for as long as the process lives; a failed run is one line, and the next run comes anyway.
 * Ends when `signal` aborts (tests).
 */
export async function repeatPrune(
  once: () => Promise<void>,
  seconds: number,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  while (!signal?.aborted) {
    try {
      await once();
    } catch (err: unknown) {
      log(`broker: cache prune failed: ${errorMessage(err)}; the next run in ${seconds}s`);
    }
    await new Promise<void>((done) => {
      const timer = setTimeout(done, seconds * 1000);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        done();
      });
    });
  }
}
