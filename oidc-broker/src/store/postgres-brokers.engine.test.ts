// Three in-process brokers on one PostgreSQL database (issue 25, "Several instances"), driven through their HTTP apps:
// a CI token sent to all of them at once is exchanged exactly once; a revocation made through one is in force on
// all within 5 s; with the database stopped, exchanges and /readyz answer 503 state_unavailable, and after it
// restarts the instances recover on their own (LISTEN again). Each broker has a data dir of its own: the keys, the
// registry CA and the signer they share come from the database. A real registry (docker-registry, its
// rootcertbundle instance 0's copy of the CA) takes registry tokens from whichever instance a client asks, before and
// after a signer rotation, without a restart.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIssuer } from '../../../test/support/issuer';
import type { LocalIssuer } from '../../../test/support/issuer';
import { requestFrom } from '../../../test/support/http';
import { freePort } from '../../../test/support/ports';
import { privateServer } from '../../../test/support/postgres';
import type { PrivateServer } from '../../../test/support/postgres';
import { until, within } from '../../../test/support/wait';
import { RegistryClient } from '../../../test/support/registry-client';
import { serveRegistry } from '../../../test/support/registry-process';
import type { RegistryProcess } from '../../../test/support/registry-process';
import { createBroker } from '../broker';
import type { Broker } from '../broker';
import { registryConfig } from '../registry-config';
import { PostgresStore } from './postgres';
import { SUPPRESSED_KIND } from './audit-bounds';
import { logInto } from '../../../test/support/log';

const PUBLIC_URL = 'http://127.0.0.1:8080';
/** audit_unverified_per_minute: rows a minute for every instance together. */
const UNVERIFIED_CAP = 5;
let issuer: LocalIssuer;
let db: PrivateServer;
let dir: string;
const brokers: Broker[] = [];
const stores: PostgresStore[] = [];
const logs: string[] = [];
/** Each broker's node:http listener on a port of its own (a load balancer's upstreams), by instance. */
const servers: Server[] = [];
const ports: number[] = [];
let registry: RegistryProcess | undefined;
let registryHost = '';
const projectTokens: string[] = [];

/** A registry client whose token requests go to instance `i`. */
function viaInstance(i: number, projectToken: string): RegistryClient {
  projectTokens.push(projectToken);
  return new RegistryClient(registryHost, projectToken, `http://127.0.0.1:${ports[i]}/v2/token`);
}

beforeAll(async () => {
  issuer = await startIssuer();
  // A server of its own: the last test stops it, which would break whatever else uses the shared one meanwhile.
  db = await privateServer();
  dir = mkdtempSync(join(tmpdir(), 'broker-pg-'));
  const config = join(dir, 'broker.yml');
  writeFileSync(
    config,
    `public_url: ${PUBLIC_URL}
issuers:
  github-actions:
    issuer: ${issuer.url}
    jwks_uri: ${issuer.url}/.well-known/jwks
rate_limit: { per_address: 0, failures_per_address: 0, registry_failures_per_address: 0 }
audit_unverified_per_minute: ${UNVERIFIED_CAP}
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
`,
  );
  const log = logInto(logs);
  const secret = randomBytes(32);
  for (let i = 0; i < 3; i++) {
    // A poll of a minute: what reaches the other instances within 5 s came through LISTEN/NOTIFY.
    const store = await PostgresStore.open({ url: db.url, keySecret: secret, dataDir: dir, pollMs: 60_000 });
    stores.push(store);
    // A data dir each: the keys, the CA and the signer come from the database, not from shared files.
    brokers.push(await createBroker({ configPath: config, dataDir: join(dir, `data-${i}`), log, store }));
  }
  for (const b of brokers) {
    const server = createServer(b.listener());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  const registryPort = await freePort();
  registryHost = `localhost:${registryPort}`;
  const registryYml = join(dir, 'registry.yml');
  writeFileSync(
    registryYml,
    registryConfig((brokers[0] as Broker).deps.config(), {
      caCertPath: (brokers[0] as Broker).deps.keys.caCertPath(),
      listen: `127.0.0.1:${registryPort}`,
      storage: join(dir, 'registry'),
    }),
  );
  registry = await serveRegistry(registryYml, { url: `http://${registryHost}` });
});

afterAll(async () => {
  await registry?.stop();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  await Promise.all(brokers.map((b) => b.close()));
  await Promise.all(stores.map((s) => s.close()));
  await db?.destroy();
  await issuer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  const text = logs.join('') + (registry?.log() ?? '');
  expect(text).not.toContain(new URL(db.url).password);
  for (const t of projectTokens) expect(text).not.toContain(t.split('.')[2]);
});

interface Answer {
  status: number;
  body: { ok: boolean; token?: string; error?: { code: string } };
  headers: Headers;
}

async function exchange(b: Broker, token: string): Promise<Answer> {
  const res = await b.app.request('/auth/oidc/github-actions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, project: 'web' }),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'], headers: res.headers };
}

async function registryToken(b: Broker, projectToken: string): Promise<number> {
  const res = await b.app.request('/v2/token?service=depot-cache&scope=repository:cache/web:pull', {
    headers: { authorization: `Basic ${Buffer.from(`depot:${projectToken}`).toString('base64')}` },
  });
  await res.arrayBuffer();
  return res.status;
}

describe('three brokers on one PostgreSQL database', () => {
  it('a token sent to all at once, 50 times: exactly one 200 each time, the others `replayed`', async () => {
    for (let round = 0; round < 50; round++) {
      const token = await issuer.mint();
      const answers = await Promise.all(brokers.flatMap((b) => [exchange(b, token), exchange(b, token)]));
      const ok = answers.filter((a) => a.status === 200);
      expect(ok, `round ${round}: ${answers.map((a) => a.status).join(',')}`).toHaveLength(1);
      for (const a of answers.filter((x) => x.status !== 200)) expect(a.body.error?.code).toBe('replayed');
    }
  });

  it('every instance publishes the same keys and signs registry tokens with the one signer from the store', async () => {
    const jwks = await Promise.all(
      brokers.map(async (b) => (await b.app.request('/.well-known/jwks.json')).json()),
    );
    expect(jwks[1]).toEqual(jwks[0]);
    expect(jwks[2]).toEqual(jwks[0]);
    const first = await exchange(brokers[0] as Broker, await issuer.mint());
    expect(first.status).toBe(200);
    const leaves = await Promise.all(
      brokers.map(async (b) => {
        const res = await b.app.request('/v2/token?service=depot-cache&scope=repository:cache/web:pull', {
          headers: { authorization: `Basic ${Buffer.from(`depot:${first.body.token}`).toString('base64')}` },
        });
        expect(res.status).toBe(200);
        const { token } = (await res.json()) as { token: string };
        const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as {
          x5c: string[];
        };
        return header.x5c[0];
      }),
    );
    expect(new Set(leaves).size).toBe(1);
    // What that buys: the real registry takes each instance's registry tokens. An image pushed with tokens from
    // instance 1 is pulled with tokens from instances 0 and 2.
    const projectToken = first.body.token as string;
    expect((await viaInstance(1, projectToken).pushImage('cache/web', 'shared', 'one')).status).toBe(201);
    for (const i of [0, 2]) {
      expect((await viaInstance(i, projectToken).pullManifest('cache/web', 'shared')).status).toBe(200);
    }
  });

  it('a key rotation (new signing key and new registry signer) through one instance is in force on all within 5 s', async () => {
    const jwksOf = async (b: Broker) =>
      JSON.stringify(await (await b.app.request('/.well-known/jwks.json')).json());
    const leafOf = async (b: Broker, projectToken: string) => {
      const res = await b.app.request('/v2/token?service=depot-cache&scope=repository:cache/web:pull', {
        headers: { authorization: `Basic ${Buffer.from(`depot:${projectToken}`).toString('base64')}` },
      });
      const { token } = (await res.json()) as { token: string };
      return (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { x5c: string[] })
        .x5c[0];
    };
    const projectToken = (await exchange(brokers[0] as Broker, await issuer.mint())).body.token as string;
    const before = await jwksOf(brokers[0] as Broker);
    const leafBefore = await leafOf(brokers[0] as Broker, projectToken);
    await (brokers[0] as Broker).rotate();
    const after = await jwksOf(brokers[0] as Broker);
    expect(after).not.toBe(before);
    const leafAfter = await leafOf(brokers[0] as Broker, projectToken);
    expect(leafAfter).not.toBe(leafBefore);
    for (const b of brokers) {
      await until(5_000, async () => (await jwksOf(b)) === after);
      await until(5_000, async () => (await leafOf(b, projectToken)) === leafAfter);
    }
    // The registry, not restarted, takes the new signer's tokens from every instance: its leaves chain to the CA
    // that was in the store before (and in instance 0's data dir, the registry's rootcertbundle).
    expect((await viaInstance(2, projectToken).pushImage('cache/web', 'rotated', 'two')).status).toBe(201);
    for (const i of [0, 1]) {
      expect((await viaInstance(i, projectToken).pullManifest('cache/web', 'rotated')).status).toBe(200);
    }
  });

  it('a revocation through one instance is in force on every instance within 5 s', async () => {
    const first = await exchange(brokers[0] as Broker, await issuer.mint());
    expect(first.status).toBe(200);
    const projectToken = first.body.token as string;
    for (const b of brokers) expect(await registryToken(b, projectToken)).toBe(200);
    const payload = JSON.parse(Buffer.from(projectToken.split('.')[1] ?? '', 'base64url').toString()) as {
      jti: string;
    };
    await (stores[0] as PostgresStore).revoke('jti', payload.jti, undefined);
    for (const b of brokers) {
      const { after } = await within(5_000, async () => (await registryToken(b, projectToken)) !== 200);
      expect(after).toBeLessThan(5_000);
      expect(await registryToken(b, projectToken)).toBe(401);
    }
  });

  it(`refusals of unverified tokens from 30 addresses to every instance: at most ${UNVERIFIED_CAP} rows a minute in all, one per address, the rest counted`, async () => {
    // From the minute's start: an aggregate row's `at` is its minute's.
    const since = Math.floor(Date.now() / 60_000) * 60;
    const addresses = Array.from({ length: 30 }, (_, i) => `127.0.1.${10 + i}`);
    // Each address tries each instance twice, straight to its listener, as a load balancer would spread them.
    const statuses = await Promise.all(
      addresses.flatMap((localAddress) =>
        [0, 1, 2, 0, 1, 2].map(async (i) => {
          const res = await requestFrom(`http://127.0.0.1:${ports[i]}/auth/oidc/github-actions`, {
            method: 'POST',
            localAddress,
            body: JSON.stringify({ token: 'not-a-jwt', project: 'web' }),
          });
          return res.status;
        }),
      ),
    );
    expect(new Set(statuses)).toEqual(new Set([401]));
    // The answers go out at once; whether a refusal gets a row of its own is the database's answer, which may come
    // a little later (drain() waits for it, as at shutdown). Each instance writes its aggregate row then.
    for (const b of brokers) await b.deps.unverifiedAudit.drain();
    const rows = await (stores[0] as PostgresStore).queryAudit({ since });
    const single = rows.filter((r) => r.kind === 'exchange' && r.outcome === 'malformed_token');
    const aggregates = rows.filter((r) => r.kind === SUPPRESSED_KIND);
    const perMinute = new Map<number, number>();
    for (const r of single)
      perMinute.set(Math.floor(r.at / 60), (perMinute.get(Math.floor(r.at / 60)) ?? 0) + 1);
    // A run that crosses a minute may take the next minute's rows too, never more than the cap in any one.
    expect(Math.max(...perMinute.values())).toBe(UNVERIFIED_CAP);
    for (const n of perMinute.values()) expect(n).toBeLessThanOrEqual(UNVERIFIED_CAP);
    const perAddressMinute = single.map((r) => `${r.client} ${Math.floor(r.at / 60)}`);
    expect(new Set(perAddressMinute).size).toBe(perAddressMinute.length);
    // Nothing lost: the rows and the aggregates' counts add up to every refusal; at most one aggregate per instance
    // and minute.
    const counted = aggregates.reduce((n, r) => n + (r.suppressed ?? 0), 0);
    expect(single.length + counted).toBe(statuses.length);
    expect(aggregates.length).toBeLessThanOrEqual(brokers.length * perMinute.size);
    for (const r of aggregates) expect(r.message).toContain('across the instances on this database');
  });

  it('the database stopped: 503 state_unavailable with Retry-After and /readyz 503; restarted: all recover', async () => {
    for (const b of brokers) expect((await b.app.request('/readyz')).status).toBe(200);
    const token = await issuer.mint();
    try {
      await db.stop();
      for (const b of brokers) {
        const a = await exchange(b, token);
        expect(a.status).toBe(503);
        expect(a.body.error?.code).toBe('state_unavailable');
        expect(a.headers.get('retry-after')).toMatch(/^\d+$/);
        const ready = await b.app.request('/readyz');
        expect(ready.status).toBe(503);
        expect(((await ready.json()) as Answer['body']).error?.code).toBe('state_unavailable');
        expect((await b.app.request('/healthz')).status).toBe(200);
      }
    } finally {
      await db.start();
    }
    for (const b of brokers) await until(10_000, async () => (await b.app.request('/readyz')).status === 200);
    // Nothing was minted or recorded while the database was down: the same token is exchanged once now.
    const answers = await Promise.all(brokers.map((b) => exchange(b, token)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    for (const a of answers.filter((x) => x.status !== 200)) expect(a.body.error?.code).toBe('replayed');
    // LISTEN is back on every instance: a revocation through one reaches the others without the (1 minute) poll.
    await until(10_000, async () => stores.every((s) => s.isListening()));
    const fresh = await exchange(brokers[1] as Broker, await issuer.mint());
    expect(fresh.status).toBe(200);
    await (stores[1] as PostgresStore).revoke('project', 'web', undefined);
    for (const b of brokers)
      await until(5_000, async () => (await registryToken(b, fresh.body.token as string)) === 401);
  });
});
