// A broker moved from SQLite to PostgreSQL (store/adopt.ts), on the real database of scripts/postgres.sh: its first
// start on an empty database takes over the data dir's signing keys, registry CA and signer, revocations, the used
// jtis of unexpired tokens and the audit trail, so project tokens minted before still verify, the registry's
// rootcertbundle is still the CA in force, a revoked token stays revoked, a CI token used before the move is refused
// after it, and `audit` still finds the decisions made before. Two instances
// starting together, each on a SQLite data dir of its own, take over one of them, once.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startIssuer } from '../../../test/support/issuer';
import type { LocalIssuer } from '../../../test/support/issuer';
import { freshDatabase, keySecret } from '../../../test/support/postgres';
import type { TestDatabase } from '../../../test/support/postgres';
import { createBroker } from '../broker';
import type { Broker } from '../broker';
import { CA_CERT_FILE } from '../keys';
import { userVersion, writeFirstReleaseState } from '../../../test/support/first-release-state';
import { openStore } from './index';
import { PostgresStore } from './postgres';
import { CA_CERT_SET_ASIDE, KEYS_FILE, SCHEMA_VERSION } from './sqlite';
import type { ClaimRow } from './types';

const PROJECTS = `projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
`;

let issuer: LocalIssuer;
let dir: string;
let sqliteConfig: string;
let postgresConfig: string;
let db: TestDatabase;
let env: NodeJS.ProcessEnv;
let logs: string[];
const open: Broker[] = [];

beforeAll(async () => {
  issuer = await startIssuer();
  issuer.defaults.aud = 'http://127.0.0.1:8080';
  dir = mkdtempSync(join(tmpdir(), 'broker-adopt-'));
  const head = `public_url: http://127.0.0.1:8080
issuers:
  github-actions:
    issuer: ${issuer.url}
    jwks_uri: ${issuer.url}/.well-known/jwks
rate_limit: { per_address: 0, failures_per_address: 0, registry_failures_per_address: 0 }
`;
  sqliteConfig = join(dir, 'sqlite.yml');
  postgresConfig = join(dir, 'postgres.yml');
  writeFileSync(sqliteConfig, head + PROJECTS);
  writeFileSync(postgresConfig, `${head}store: { postgres: { url_env: ADOPT_DATABASE_URL } }\n${PROJECTS}`);
});

beforeEach(async () => {
  db = await freshDatabase();
  env = { ...process.env, ADOPT_DATABASE_URL: db.url, BROKER_KEY_SECRET: keySecret() };
  logs = [];
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  await db.drop();
});

afterAll(async () => {
  await issuer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const log = () =>
  pino(
    { base: undefined },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    }),
  );

async function start(configPath: string, dataDir: string): Promise<Broker> {
  const b = await createBroker({ configPath, dataDir, log: log(), env });
  open.push(b);
  return b;
}

async function stop(b: Broker): Promise<void> {
  open.splice(open.indexOf(b), 1);
  await b.close();
}

async function exchange(
  b: Broker,
  token: string,
): Promise<{ status: number; token?: string; code?: string }> {
  const res = await b.app.request('/auth/oidc/github-actions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, project: 'web' }),
  });
  const body = (await res.json()) as { token?: string; error?: { code: string } };
  return { status: res.status, token: body.token, code: body.error?.code };
}

async function registryToken(b: Broker, projectToken: string): Promise<number> {
  const res = await b.app.request('/v2/token?service=depot-cache&scope=repository:cache/web:pull', {
    headers: { authorization: `Basic ${Buffer.from(`depot:${projectToken}`).toString('base64')}` },
  });
  await res.arrayBuffer();
  return res.status;
}

const jwks = async (b: Broker) =>
  JSON.stringify(await (await b.app.request('/.well-known/jwks.json')).json());
const jtiOf = (jwt: string) =>
  (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }).jti;

function claimRow(id: string, n: number): ClaimRow {
  const t = Date.now();
  return {
    idSha256: createHash('sha256').update(id).digest('hex'),
    challenge: `challenge-${id}`,
    repository: 'acme/web',
    runId: 1000 + n,
    runAttempt: 1,
    pullRequest: 7 + n,
    project: 'web',
    rule: 'web-main',
    createdAt: t,
    expiresAt: t + 600_000,
  };
}

/** A SQLite broker's data dir after some use: a CI token spent, a project token revoked, one still good. */
async function usedSqliteDataDir(name: string) {
  const dataDir = join(dir, name);
  const b = await start(sqliteConfig, dataDir);
  const spent = await issuer.mint();
  const good = await exchange(b, spent);
  const revoked = await exchange(b, await issuer.mint());
  expect(good.status).toBe(200);
  expect(revoked.status).toBe(200);
  await b.deps.state.revoke('jti', jtiOf(revoked.token as string), undefined);
  // Two fork-PR claims: one a pull request's build is still waiting on, one already spent.
  const claims = ['waiting', 'spent'].map((k, i) => claimRow(`${name}-${k}`, i));
  for (const c of claims) await b.deps.state.createClaim(c);
  expect(await b.deps.state.useClaim(claims[1]?.idSha256 as string, Date.now())).toBe(true);
  const before = {
    jwks: await jwks(b),
    ca: readFileSync(join(dataDir, CA_CERT_FILE), 'utf8'),
    keys: (JSON.parse(readFileSync(join(dataDir, KEYS_FILE), 'utf8')) as { keys: unknown[] }).keys.length,
    audit: await b.deps.state.queryAudit({}),
    claims: await Promise.all(claims.map((c) => b.deps.state.claim(c.idSha256))),
  };
  await stop(b);
  return { dataDir, spent, good: good.token as string, revoked: revoked.token as string, ...before };
}

describe('a SQLite data dir moved to PostgreSQL', () => {
  it('the first start takes over keys, CA, revocations, used jtis, fork-PR claims and audit; later starts and other instances use them', async () => {
    const old = await usedSqliteDataDir('data');
    expect(old.audit.length).toBeGreaterThanOrEqual(2);
    const b = await start(postgresConfig, old.dataDir);
    expect(b.deps.state.engine).toBe('postgres');

    // The same keys: a project token minted on SQLite still gets registry tokens; the JWKS is the one published before.
    expect(await jwks(b)).toBe(old.jwks);
    expect(await registryToken(b, old.good)).toBe(200);
    // The same CA: in the database, and registry-ca.pem (the registry's rootcertbundle) unchanged.
    expect((await b.deps.state.registryCa())?.certPem).toBe(old.ca);
    expect(readFileSync(join(old.dataDir, CA_CERT_FILE), 'utf8')).toBe(old.ca);
    // The audit trail: every row from before, first and unchanged.
    expect((await b.deps.state.queryAudit({})).slice(0, old.audit.length)).toEqual(old.audit);
    // Revoked stays revoked; used stays used.
    expect(await registryToken(b, old.revoked)).toBe(401);
    expect(await exchange(b, old.spent)).toMatchObject({ status: 401, code: 'replayed' });
    // New exchanges work and are single use on the database.
    const fresh = await issuer.mint();
    expect((await exchange(b, fresh)).status).toBe(200);
    expect((await exchange(b, fresh)).code).toBe('replayed');
    const adopted = logs.filter((l) => l.includes('"event":"data_dir_adopted"'));
    expect(adopted).toHaveLength(1);
    expect(JSON.parse(adopted[0] as string)).toMatchObject({
      adopted: true,
      signingKeys: old.keys,
      registryCa: true,
      revocations: 1,
      jtis: 2,
      claims: 2,
      auditRows: old.audit.length,
    });
    // The fork-PR claims, each as it was: the waiting one can still be spent, once; the spent one cannot.
    const [waiting, spent] = old.claims;
    for (const c of old.claims) expect(await b.deps.state.claim(c?.idSha256 as string)).toEqual(c);
    expect(spent?.usedAt).toBeGreaterThan(0);
    expect(await b.deps.state.useClaim(spent?.idSha256 as string, Date.now())).toBe(false);
    expect(await b.deps.state.useClaim(waiting?.idSha256 as string, Date.now())).toBe(true);
    expect(await b.deps.state.useClaim(waiting?.idSha256 as string, Date.now())).toBe(false);

    // A restart on the same data dir takes over nothing again (the revocation is not doubled), and says nothing.
    await stop(b);
    const again = await start(postgresConfig, old.dataDir);
    const store = await PostgresStore.open({
      url: db.url,
      keySecret: Buffer.from(env.BROKER_KEY_SECRET as string, 'base64'),
      dataDir: dir,
    });
    try {
      expect(await store.revocations()).toHaveLength(1);
      const first = old.audit[0]?.requestId as string;
      expect(await store.queryAudit({ requestId: first })).toHaveLength(1);
    } finally {
      await store.close();
    }
    // Another instance, on an empty data dir of its own: the same keys, and the CA written there.
    const other = await start(postgresConfig, join(dir, 'other'));
    expect(await jwks(other)).toBe(old.jwks);
    expect(readFileSync(join(dir, 'other', CA_CERT_FILE), 'utf8')).toBe(old.ca);
    expect(await registryToken(other, old.revoked)).toBe(401);
    expect(await jwks(again)).toBe(old.jwks);
    expect(logs.filter((l) => l.includes('data_dir_'))).toHaveLength(1);
    // That data dir holds the CA's certificate and not its key: a SQLite broker on it is refused, and told why.
    await expect(start(sqliteConfig, join(dir, 'other'))).rejects.toThrow(
      `${join(dir, 'other', CA_CERT_FILE)} has no registry-ca-key.pem beside it: a PostgreSQL broker (store: postgres) keeps its registry CA's key in the database`,
    );
  });

  it('two instances starting together, each on a SQLite data dir: one is taken over, once; the other is told', async () => {
    const [a, b] = [await usedSqliteDataDir('a'), await usedSqliteDataDir('b')];
    expect(a.ca).not.toBe(b.ca);
    const [ba, bb] = await Promise.all([start(postgresConfig, a.dataDir), start(postgresConfig, b.dataDir)]);
    expect(await jwks(ba)).toBe(await jwks(bb));
    const taken = logs.filter((l) => l.includes('"event":"data_dir_adopted"'));
    const told = logs.filter((l) => l.includes('"event":"data_dir_not_adopted"'));
    expect(taken).toHaveLength(1);
    expect(told).toHaveLength(1);
    const winner = (JSON.parse(taken[0] as string) as { dataDir: string }).dataDir === a.dataDir ? a : b;
    const loser = winner === a ? b : a;
    expect(await jwks(ba)).toBe(winner.jwks);
    expect(JSON.parse(told[0] as string)).toMatchObject({ level: 40, dataDir: loser.dataDir, otherCa: true });
    expect((JSON.parse(told[0] as string) as { msg: string }).msg).toContain(
      `${loser.dataDir}/registry-ca.pem now holds the database's CA: restart a registry that reads it`,
    );
    // Both sign registry tokens under the winner's CA, which both data dirs now hold.
    for (const d of [a, b]) expect(readFileSync(join(d.dataDir, CA_CERT_FILE), 'utf8')).toBe(winner.ca);
    // The winner's spent token is refused by both.
    for (const x of [ba, bb]) expect((await exchange(x, winner.spent)).code).toBe('replayed');

    // The loser's own CA certificate is kept beside its key, and the warning says where.
    const kept = join(loser.dataDir, CA_CERT_SET_ASIDE);
    expect(readFileSync(kept, 'utf8')).toBe(loser.ca);
    expect((JSON.parse(told[0] as string) as { msg: string }).msg).toContain(
      `(the data dir's own CA certificate is kept as ${kept})`,
    );
    // Back to SQLite on the loser's data dir: refused with the way back named, never the winner's certificate
    // paired with the loser's key; once the kept certificate is moved back, the loser's own broker as it was.
    await Promise.all([stop(ba), stop(bb)]);
    await expect(start(sqliteConfig, loser.dataDir)).rejects.toThrow(
      `move ${CA_CERT_SET_ASIDE} back to ${CA_CERT_FILE}`,
    );
    renameSync(kept, join(loser.dataDir, CA_CERT_FILE));
    const back = await start(sqliteConfig, loser.dataDir);
    expect(await jwks(back)).toBe(loser.jwks);
    expect(await registryToken(back, loser.good)).toBe(200);
    expect((await exchange(back, loser.spent)).code).toBe('replayed');
    expect(readFileSync(join(loser.dataDir, CA_CERT_FILE), 'utf8')).toBe(loser.ca);
  });

  it("a broker command on PostgreSQL does not upgrade an older release's state.db as it takes it over: the broker does", async () => {
    const data = join(dir, 'data-older');
    mkdirSync(data, { recursive: true });
    writeFirstReleaseState(data);
    const version = () => userVersion(data);
    const config = { store: { engine: 'postgres' as const, urlEnv: 'ADOPT_DATABASE_URL' } };
    const told: string[] = [];
    await expect(
      openStore(config, {
        dataDir: data,
        env,
        upgrade: false,
        onAdopted: (a) => told.push(JSON.stringify(a)),
      }),
    ).rejects.toThrow(
      `the broker state (schema version 0) is older than this release's (version ${SCHEMA_VERSION}), and a broker command does not upgrade it`,
    );
    expect(version()).toEqual({ user_version: 0 });
    expect(told).toEqual([]);
    // Nothing was taken over: the database is as empty as before.
    const store = await PostgresStore.open({
      url: db.url,
      keySecret: Buffer.from(env.BROKER_KEY_SECRET as string, 'base64'),
      dataDir: data,
    });
    try {
      expect(await store.holdsKeys()).toBe(false);
    } finally {
      await store.close();
    }

    // The broker of this release upgrades it as it takes it over: the used jti and the audit row go along.
    await start(postgresConfig, data);
    expect(version()).toEqual({ user_version: SCHEMA_VERSION });
    const adopted = logs.filter((l) => l.includes('"event":"data_dir_adopted"'));
    expect(adopted).toHaveLength(1);
    expect(JSON.parse(adopted[0] as string)).toMatchObject({ adopted: true, jtis: 1, auditRows: 1 });
  });
});
