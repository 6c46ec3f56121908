// `broker cache`: the prune plan, the dates and sizes it reads, and the command against a registry that msw serves
// (the distribution API's answers as docker-registry 2.8 gives them; anything else asked fails the test).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { useMswServer } from '../../../test/support/msw';
import { parseConfig } from '../config';
import { ConfigError } from '../errors';
import type { Settings } from '../settings';
import type { CacheEntry, CacheRun } from './cache';
import {
  CACHE_CONFIG_TYPE,
  CacheRegistry,
  cacheCommand,
  cacheConfigDates,
  humanAge,
  humanSize,
  planPrune,
  repeatPrune,
  runCache,
  totalSize,
} from './cache';

const HOUR = 3600;
const NOW = 1_800_000_000;
const MiB = 2 ** 20;

function entry(digest: string, builtAt: number | undefined, parts: Record<string, number>): CacheEntry {
  return { digest, tags: [digest], builtAt, parts: new Map(Object.entries(parts)) };
}

describe('planPrune', () => {
  const limits = { maxSize: 10 * MiB, maxAge: 24 * HOUR };

  it('deletes what is past max_age, keeps the rest when it fits', () => {
    const old = entry('old', NOW - 25 * HOUR, { a: MiB });
    const fresh = entry('fresh', NOW - HOUR, { b: MiB });
    expect(planPrune([fresh, old], limits, NOW)).toEqual([{ entry: old, reason: 'age' }]);
  });

  it('then deletes the oldest while the rest is above max_size, counting shared blobs once', () => {
    const a = entry('a', NOW - 3 * HOUR, { base: 4 * MiB, x: 4 * MiB });
    const b = entry('b', NOW - 2 * HOUR, { base: 4 * MiB, y: 4 * MiB });
    const c = entry('c', NOW - HOUR, { base: 4 * MiB, z: 1 * MiB });
    expect(totalSize([a, b, c])).toBe(13 * MiB);
    expect(planPrune([c, b, a], limits, NOW)).toEqual([{ entry: a, reason: 'size' }]);
    expect(planPrune([c, b, a], { ...limits, maxSize: 5 * MiB }, NOW).map((d) => d.entry.digest)).toEqual([
      'a',
      'b',
    ]);
  });

  it('never deletes an undated entry for its age, and deletes it first for size', () => {
    const undated = entry('undated', undefined, { u: 6 * MiB });
    const dated = entry('dated', NOW - 48 * HOUR, { d: MiB });
    expect(planPrune([undated, dated], { ...limits, maxSize: 100 * MiB }, NOW)).toEqual([
      { entry: dated, reason: 'age' },
    ]);
    const fresh = entry('fresh', NOW, { f: 6 * MiB });
    expect(planPrune([fresh, undated], limits, NOW)).toEqual([{ entry: undated, reason: 'size' }]);
  });
});

describe('what the command reads and prints', () => {
  it("reads BuildKit's cache config records' createdAt", () => {
    expect(
      cacheConfigDates({
        layers: [{ blob: 'sha256:1' }],
        records: [
          { digest: 'x', layers: [{ layer: 0, createdAt: '2026-12-01T01:18:12.572440317Z' }] },
          { digest: 'y' },
          { digest: 'z', layers: [{ layer: 0, createdAt: 'not a date' }] },
        ],
      }),
    ).toEqual([Math.floor(Date.parse('2026-12-01T01:18:12Z') / 1000)]);
    expect(cacheConfigDates(undefined)).toEqual([]);
  });

  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [20 * 2 ** 30, '20.0 GiB'],
  ])('humanSize(%d) = %s', (n, text) => expect(humanSize(n)).toBe(text));

  it.each([
    [45, '45s'],
    [3 * HOUR + 5, '3h'],
    [30 * 86_400, '30d'],
  ])('humanAge(%d) = %s', (n, text) => expect(humanAge(n)).toBe(text));
});

// A registry holding cache/web: `new` (an OCI image manifest with BuildKit's cache config) and `old` (the index
// older exporters wrote: layers and the cache config as its entries), sharing the base layer.
const REGISTRY = 'http://cache.example.test:5001';
const CONFIG = `public_url: https://broker.example.test
issuers:
  github-actions:
    issuer: https://token.actions.example.test
registry: { host: "cache.example.test:5001", service: depot-cache }
cache: { max_age: 2d }
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "1" }
  - id: api
    rules:
      - { id: api-main, provider: github-actions, repository: acme/api, repository_id: "2" }
`;
const d = (c: string) => `sha256:${c.repeat(64)}`;
const iso = (t: number) => new Date(t * 1000).toISOString();
const NEW_DIGEST = d('1');
const OLD_DIGEST = d('2');
const newManifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: CACHE_CONFIG_TYPE, digest: d('c'), size: 500 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('b'), size: 3 * MiB },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('n'), size: MiB },
  ],
});
const oldManifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: d('b'),
      size: 3 * MiB,
      annotations: { 'buildkit/createdat': iso(NOW - 5 * 86_400) },
    },
    {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: d('o'),
      size: 2 * MiB,
      annotations: { 'buildkit/createdat': iso(NOW - 3 * 86_400) },
    },
    { mediaType: CACHE_CONFIG_TYPE, digest: d('f'), size: 400 },
  ],
});

interface Seen {
  calls: string[];
  deleted: string[];
}

function serveRegistry(server: ReturnType<typeof useMswServer>, opts: { readOnly?: boolean } = {}): Seen {
  const seen: Seen = { calls: [], deleted: [] };
  const manifests: Record<string, { body: string; digest: string }> = {
    new: { body: newManifest, digest: NEW_DIGEST },
    old: { body: oldManifest, digest: OLD_DIGEST },
    [NEW_DIGEST]: { body: newManifest, digest: NEW_DIGEST },
    [OLD_DIGEST]: { body: oldManifest, digest: OLD_DIGEST },
  };
  const record = (request: Request) =>
    seen.calls.push(
      `${request.method} ${new URL(request.url).pathname} ${request.headers.get('authorization') ?? ''}`,
    );
  server.use(
    http.get(`${REGISTRY}/v2/cache/web/tags/list`, ({ request }) => {
      record(request);
      return HttpResponse.json({ name: 'cache/web', tags: ['new', 'old'] });
    }),
    http.get(`${REGISTRY}/v2/cache/api/tags/list`, ({ request }) => {
      record(request);
      return HttpResponse.json(
        { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] },
        { status: 404 },
      );
    }),
    http.get(`${REGISTRY}/v2/cache/web/manifests/:ref`, ({ request, params }) => {
      record(request);
      const m = manifests[params.ref as string];
      if (!m) return HttpResponse.json({ errors: [{ code: 'MANIFEST_UNKNOWN' }] }, { status: 404 });
      return new HttpResponse(m.body, {
        headers: {
          'content-type': (JSON.parse(m.body) as { mediaType: string }).mediaType,
          'docker-content-digest': m.digest,
        },
      });
    }),
    http.get(`${REGISTRY}/v2/cache/web/blobs/:digest`, ({ request, params }) => {
      record(request);
      const created = params.digest === d('c') ? NOW - HOUR : NOW - 3 * 86_400;
      return HttpResponse.json({
        layers: [],
        records: [{ digest: 'r', layers: [{ createdAt: iso(created) }] }],
      });
    }),
    http.delete(`${REGISTRY}/v2/cache/web/manifests/:digest`, ({ request, params }) => {
      record(request);
      if (opts.readOnly) return new HttpResponse('Method not allowed', { status: 405 });
      seen.deleted.push(params.digest as string);
      return new HttpResponse(null, { status: 202 });
    }),
    http.post(`${REGISTRY}/v2/cache/web/blobs/uploads/`, ({ request }) => {
      record(request);
      if (opts.readOnly) return new HttpResponse('Method not allowed', { status: 405 });
      return new HttpResponse(null, {
        status: 202,
        headers: { location: `${REGISTRY}/v2/cache/web/blobs/uploads/u-1?_state=x` },
      });
    }),
    http.delete(`${REGISTRY}/v2/cache/web/blobs/uploads/u-1`, ({ request }) => {
      record(request);
      return new HttpResponse(null, { status: 204 });
    }),
  );
  return seen;
}

function run(over: Partial<CacheRun> = {}): { run: CacheRun; out: () => string; gcs: string[] } {
  let text = '';
  const gcs: string[] = [];
  const config = parseConfig(CONFIG, '/etc/depot-broker/broker.yml');
  return {
    run: {
      config,
      registry: new CacheRegistry(REGISTRY, (repo, actions) =>
        Promise.resolve(`tok:${repo}:${actions.join(',')}`),
      ),
      subcommand: 'usage',
      project: undefined,
      dryRun: false,
      registryConfig: undefined,
      out: { write: (t: string) => void (text += t) },
      now: NOW,
      gc: (file) => {
        gcs.push(file);
        return Promise.resolve({ summary: '3 blobs marked, 2 blobs and 1 manifests eligible for deletion' });
      },
      ...over,
    },
    out: () => text,
    gcs,
  };
}

function registryFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cache-test-')), 'registry.yml');
  writeFileSync(file, 'version: 0.1\n');
  return file;
}

describe('broker cache against the registry API', () => {
  const server = useMswServer();

  it('usage: one row per project, shared blobs once, ages from the cache dates, with pull-only tokens', async () => {
    const seen = serveRegistry(server);
    const r = run();
    await runCache(r.run);
    const lines = r.out().trim().split('\n');
    expect(lines[0]).toMatch(
      /^PROJECT\s+REPOSITORY\s+TAGS\s+SIZE\s+LIMITS \(SIZE \/ AGE\)\s+OLDEST\s+NEWEST$/,
    );
    // base 3 MiB + new 1 MiB + old 2 MiB, two configs and two manifests.
    const size = humanSize(6 * MiB + 900 + newManifest.length + oldManifest.length);
    expect(lines[1]?.split(/\s{2,}/)).toEqual(['web', 'cache/web', '2', size, '20.0 GiB / 2d', '3d', '1h']);
    expect(lines[2]?.split(/\s{2,}/)).toEqual(['api', 'cache/api', '0', '0 B', '20.0 GiB / 2d', '-', '-']);
    expect(seen.calls.every((c) => c.endsWith(':pull'))).toBe(true);
  });

  it('prune: deletes the manifest past max_age by digest with a delete token, and says how to collect the garbage', async () => {
    const seen = serveRegistry(server);
    const r = run({ subcommand: 'prune', project: 'web' });
    await runCache(r.run);
    expect(seen.deleted).toEqual([OLD_DIGEST]);
    expect(seen.calls).toContain(
      `DELETE /v2/cache/web/manifests/${OLD_DIGEST} Bearer tok:cache/web:pull,delete`,
    );
    expect(r.out()).toContain(
      'web: deleted cache/web:old (sha256:222222222222, built 3d ago: past max_age 2d)',
    );
    expect(r.out()).toContain('their blobs are freed at the next garbage collection');
    expect(r.gcs).toEqual([]);
  });

  it('prune --dry-run deletes nothing', async () => {
    const seen = serveRegistry(server);
    const r = run({ subcommand: 'prune', dryRun: true });
    await runCache(r.run);
    expect(seen.deleted).toEqual([]);
    expect(r.out()).toContain('web: would delete cache/web:old');
    expect(r.out()).toContain('api: 0 of 0 manifest(s) would go');
  });

  it('prune --registry-config with a registry that accepts uploads: deletes, then refuses the garbage collection', async () => {
    const seen = serveRegistry(server);
    const file = registryFile();
    const r = run({ subcommand: 'prune', project: 'web', registryConfig: file });
    await expect(runCache(r.run)).rejects.toThrow(
      new ConfigError(
        `not collecting garbage: the cache registry at ${REGISTRY} accepts uploads, and garbage-collect must not run while it does (a push in flight would lose blobs): restart it read-only (REGISTRY_STORAGE_MAINTENANCE_READONLY='{enabled: true}') and run this again, or stop it and run \`docker-registry garbage-collect --delete-untagged ${file}\``,
      ),
    );
    expect(seen.deleted).toEqual([OLD_DIGEST]);
    expect(seen.calls).toContain(
      'DELETE /v2/cache/web/blobs/uploads/u-1 Bearer tok:cache/web:pull,push,delete',
    );
    expect(r.gcs).toEqual([]);
  });

  it('prune --registry-config with a read-only registry: leaves what is due, collects the garbage', async () => {
    const seen = serveRegistry(server, { readOnly: true });
    const file = registryFile();
    const r = run({ subcommand: 'prune', project: 'web', registryConfig: file });
    await runCache(r.run);
    expect(seen.calls.filter((c) => c.startsWith('DELETE /v2/cache/web/manifests'))).toEqual([]);
    expect(r.out()).toContain('is read-only: 1 manifest(s) due are left for a prune while it accepts writes');
    expect(r.gcs).toEqual([file]);
    expect(r.out()).toContain(`garbage collected (${file}): 3 blobs marked`);
  });

  it('reset: every manifest of the one project; refused while the registry is read-only', async () => {
    const seen = serveRegistry(server);
    const r = run({ subcommand: 'reset', project: 'web' });
    await runCache(r.run);
    expect(seen.deleted.sort()).toEqual([NEW_DIGEST, OLD_DIGEST]);
    expect(r.out()).toContain('web: 2 manifest(s) deleted, 0 kept');

    server.resetHandlers();
    serveRegistry(server, { readOnly: true });
    await expect(
      runCache(run({ subcommand: 'reset', project: 'web', registryConfig: registryFile() }).run),
    ).rejects.toThrow(
      /^the cache registry at http:\/\/cache\.example\.test:5001 is read-only: reset deletes tags/,
    );
  });

  it.each([
    [{ subcommand: 'reset' as const }, 'cache reset empties one project: name it with --project ID'],
    [{ project: 'nope' }, 'no project "nope" in /etc/depot-broker/broker.yml: use one of web, api'],
    [
      { subcommand: 'prune' as const, registryConfig: '/nonexistent/registry.yml' },
      "--registry-config /nonexistent/registry.yml does not exist: pass the registry's config file",
    ],
  ])('refuses %o in one line', async (over, message) => {
    await expect(runCache(run(over).run)).rejects.toThrow(new ConfigError(message));
  });

  it('names the URL when the registry refuses the broker, and never says the token', async () => {
    server.use(
      http.get(`${REGISTRY}/v2/cache/web/tags/list`, () =>
        HttpResponse.json({ errors: [{ code: 'UNAUTHORIZED' }] }, { status: 401 }),
      ),
    );
    const err = await runCache(run({ project: 'web' }).run).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      /^the cache registry at http:\/\/cache\.example\.test:5001 refused the broker's own token \(401 on GET/,
    );
    expect((err as Error).message).not.toContain('tok:');
  });
});

describe('cache prune --every (the scheduled prune of the image)', () => {
  const settingsFor = (args: string[], flags: Record<string, string>): Settings => ({
    command: 'cache',
    args,
    config: join(import.meta.dirname, '..', '..', '..', 'examples', 'broker.yml'),
    dataDir: mkdtempSync(join(tmpdir(), 'cache-every-')),
    listen: { host: '127.0.0.1', port: 8080 },
    flags: new Map(Object.entries(flags)),
  });

  it.each([
    [['prune'], { every: 'daily' }, '--every "daily" is not a duration of at least 1m (e.g. 24h)'],
    [['prune'], { every: '30s' }, '--every "30s" is not a duration of at least 1m (e.g. 24h)'],
    [['usage'], { every: '1h' }, '--every repeats cache prune only (not cache usage): drop --every'],
  ])('refuses %o %o in one line', async (args, flags, message) => {
    const s = settingsFor(args, flags);
    writeFileSync(join(s.dataDir, 'keys.json'), '{}');
    await expect(cacheCommand(s)).rejects.toThrow(new ConfigError(message));
  });

  it('runs again after a failed run, and logs the failure in one line', async () => {
    const stop = new AbortController();
    const lines: string[] = [];
    let runs = 0;
    await repeatPrune(
      async () => {
        runs++;
        if (runs === 1) throw new Error('registry at http://cache.example.test:5001 unreachable');
        if (runs === 3) stop.abort();
      },
      0.01,
      (line) => lines.push(line),
      stop.signal,
    );
    expect(runs).toBe(3);
    expect(lines).toEqual([
      'broker: cache prune failed: registry at http://cache.example.test:5001 unreachable; the next run in 0.01s',
    ]);
  });
});
