// The PostgreSQL store against a real PostgreSQL 15 (scripts/postgres.sh; never skipped): the store contract, the
// migrations under their advisory lock, several instances on one database (single use, changes through LISTEN/NOTIFY)
// and a database stopped and started mid-run.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  freshDatabase,
  privateServer,
  refusal,
  spoilingProxy,
  testDatabaseUrl,
  usedRows,
} from '../../../test/support/postgres';
import type { PrivateServer, TestDatabase } from '../../../test/support/postgres';
import { within } from '../../../test/support/wait';
import type { StoreChange, StoredKey } from './types';
import { StoreUnavailableError } from './types';
import {
  AUDIT_QUEUE_MAX,
  JTI_PURGE_BATCH,
  MIGRATIONS,
  openPostgresStore,
  parseKeySecret,
  PostgresStore,
  redactUrl,
  SCHEMA_VERSION,
  seal,
  unseal,
} from './postgres';
import type { PostgresStoreOptions } from './postgres';

const open: PostgresStore[] = [];
const dbs: TestDatabase[] = [];
const servers: PrivateServer[] = [];

async function database(): Promise<TestDatabase> {
  const db = await freshDatabase();
  dbs.push(db);
  return db;
}

async function store(
  url: string,
  secret: Buffer,
  opts: Partial<PostgresStoreOptions> = {},
): Promise<PostgresStore> {
  const s = await PostgresStore.open({ url, keySecret: secret, dataDir: '/nonexistent', ...opts });
  open.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await Promise.all(dbs.splice(0).map((d) => d.drop()));
  await Promise.all(servers.splice(0).map((s) => s.destroy()));
});

beforeAll(async () => {
  await testDatabaseUrl();
});

describe('the store contract on PostgreSQL', () => {
  it('single use: one true per (issuer, jti), a replay false; expired jtis purged', async () => {
    const s = await store((await database()).url, randomBytes(32));
    expect(s.engine).toBe('postgres');
    expect(await s.version()).toBe(SCHEMA_VERSION);
    await s.ready();
    expect(await s.useJti('https://a', 'j1', 100)).toBe(true);
    expect(await s.useJti('https://a', 'j1', 100)).toBe(false);
    expect(await s.useJti('https://b', 'j1', 100)).toBe(true);
    expect(await s.useJti('https://a', 'j2', 10_000)).toBe(true);
    expect(await s.purgeExpired(200, 60)).toBe(2);
    expect(await s.useJti('https://a', 'j1', 100)).toBe(true);
    expect(await s.useJti('https://a', 'j2', 10_000)).toBe(false);
  });

  it('purging expired jtis goes a batch at a time and never waits for a row another transaction holds', async () => {
    const db = await database();
    const s = await store(db.url, randomBytes(32));
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      const expired = JTI_PURGE_BATCH * 2 + 10;
      await raw.query(
        `INSERT INTO used_jti (issuer, jti, expires_at, insert_id)
           SELECT 'https://a', 'old-' || g, 100, gen_random_uuid() FROM generate_series(1, $1) g
           UNION ALL SELECT 'https://a', 'live-' || g, 10000, gen_random_uuid() FROM generate_series(1, 5) g`,
        [expired],
      );
      // Another transaction holds one expired row (a purge of another instance, say): it is skipped, not waited for.
      const holder = new pg.Client({ connectionString: db.url });
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM used_jti WHERE jti = 'old-1' FOR UPDATE`);
      try {
        expect(await s.purgeExpired(200, 60)).toBe(expired - 1);
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
      expect(await s.purgeExpired(200, 60)).toBe(1);
      const left = await raw.query<{ n: string }>('SELECT count(*) AS n FROM used_jti');
      expect(left.rows[0]?.n).toBe('5');
    } finally {
      await raw.end();
    }
  }, 30_000);

  it('the audit trail: every field back, null columns left out, filtered and limited', async () => {
    const s = await store((await database()).url, randomBytes(32));
    await s.audit({
      at: 1000,
      provider: 'github-actions',
      issuer: 'github-actions',
      outcome: 'ok',
      kind: 'exchange',
      requestId: 'r-1',
      repository: 'Acme/Web',
      tokenSha256: 'abc',
      pullRequest: '7',
      claim: 'ch',
    });
    await s.audit({ at: 2000, provider: 'gitlab', issuer: 'gitlab', outcome: 'refused', requestId: 'r-2' });
    expect(await s.queryAudit({ requestId: 'r-1' })).toEqual([
      {
        at: 1000,
        provider: 'github-actions',
        issuer: 'github-actions',
        outcome: 'ok',
        kind: 'exchange',
        requestId: 'r-1',
        repository: 'Acme/Web',
        tokenSha256: 'abc',
        pullRequest: '7',
        claim: 'ch',
      },
    ]);
    expect((await s.queryAudit({ repository: 'acme/web' })).map((r) => r.requestId)).toEqual(['r-1']);
    expect((await s.queryAudit({ since: 1500 })).map((r) => r.requestId)).toEqual(['r-2']);
    expect((await s.queryAudit({ limit: 1 })).map((r) => r.requestId)).toEqual(['r-1']);
    expect(await s.queryAudit({})).toHaveLength(2);
  });

  it('a string holding U+0000 (a body field name, a project name anyone can send) is stored as U+FFFD and fails no batch', async () => {
    const s = await store((await database()).url, randomBytes(32));
    const row = { at: 1, provider: 'github-actions', issuer: 'github-actions', kind: 'exchange' };
    // One group commit: the first row waits 5 ms for company.
    await Promise.all([
      s.audit({
        ...row,
        outcome: 'malformed_request',
        requestId: 'nul-1',
        field: 'a\u0000b',
        project: '\u0000',
      }),
      s.audit({ ...row, outcome: 'ok', requestId: 'nul-2', repository: 'acme/web' }),
    ]);
    expect(await s.queryAudit({ requestId: 'nul-1' })).toMatchObject([
      { field: 'a\uFFFDb', project: '\uFFFD' },
    ]);
    expect(await s.queryAudit({ requestId: 'nul-2' })).toMatchObject([
      { outcome: 'ok', repository: 'acme/web' },
    ]);
    // The same for used jtis: a batch with one such jti still decides every use in it.
    expect(
      await Promise.all([s.useJti('https://a', 'j\u0000', 100), s.useJti('https://a', 'plain', 100)]),
    ).toEqual([true, true]);
    expect(await s.useJti('https://a', 'j\u0000', 100)).toBe(false);
    // And an expiry that is no whole number of seconds within bigint's range (an issuer's `exp` is any JSON number).
    const odd = [1e300, 1_700_000_000.5, -5];
    expect(await Promise.all(odd.map((exp, i) => s.useJti('https://a', `odd-${i}`, exp)))).toEqual([
      true,
      true,
      true,
    ]);
    expect(await s.useJti('https://a', 'odd-1', 1_700_000_000.5)).toBe(false);
  });

  it('audit rows waiting for their statement ride in the next used-jti statement: one transaction, one commit', async () => {
    const db = await database();
    const s = await store(db.url, randomBytes(32));
    const row = { at: 5, provider: 'github-actions', issuer: 'github-actions', kind: 'exchange' };
    // Both rows wait (up to 5 ms) for company; the jti's statement goes at once and takes them along.
    const audited = Promise.all([
      s.audit({ ...row, outcome: 'ok', requestId: 'ride-1', repository: 'acme/web' }),
      s.audit({ ...row, outcome: 'replayed', requestId: 'ride-2', field: 'jti' }),
    ]);
    expect(await s.useJti('https://a', 'rider', 100)).toBe(true);
    await audited;
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      const jti = await raw.query<{ xmin: string }>(`SELECT xmin FROM used_jti WHERE jti = 'rider'`);
      const audit = await raw.query<{ xmin: string; request_id: string }>(
        `SELECT xmin, request_id FROM audit ORDER BY id`,
      );
      expect(audit.rows.map((r) => r.request_id)).toEqual(['ride-1', 'ride-2']);
      expect(audit.rows.map((r) => r.xmin)).toEqual([jti.rows[0]?.xmin, jti.rows[0]?.xmin]);
    } finally {
      await raw.end();
    }
    // Every field back as before; a later row with no jti to ride with still goes on its own.
    expect(await s.queryAudit({ requestId: 'ride-2' })).toEqual([
      { ...row, outcome: 'replayed', requestId: 'ride-2', field: 'jti' },
    ]);
    await s.audit({ ...row, outcome: 'ok', requestId: 'alone' });
    expect((await s.queryAudit({})).map((r) => r.requestId)).toEqual(['ride-1', 'ride-2', 'alone']);
    // An audit row the server refuses never fails the used jti it rode with: the jti goes again alone and decides,
    // and the row fails in a statement of its own (audit() rejects: the exchange logs it).
    const failing = refusal(s.audit({ ...row, outcome: 'ok', requestId: 'bad', at: Number.MAX_VALUE }));
    expect(await s.useJti('https://a', 'with-bad-rider', 100)).toBe(true);
    expect((await failing).message).toMatch(/invalid input syntax for type bigint/);
    expect(await s.useJti('https://a', 'with-bad-rider', 100)).toBe(false);
    expect(await s.queryAudit({ requestId: 'bad' })).toEqual([]);
  });

  it('revocations by jti, rule or project; `before` spares tokens issued after it', async () => {
    const s = await store((await database()).url, randomBytes(32));
    const t = { jti: 't1', rule: 'web#0', project: 'web', issuedAt: 1000 };
    expect(await s.isRevoked(t)).toBeUndefined();
    const r1 = await s.revoke('jti', 't1', undefined, 500);
    expect(r1).toEqual({ id: r1.id, at: 500, kind: 'jti', value: 't1' });
    expect(await s.isRevoked(t)).toEqual(r1);
    expect(await s.isRevoked({ ...t, jti: 't2' })).toBeUndefined();
    const r2 = await s.revoke('rule', 'api#0', 900, 600);
    expect(await s.isRevoked({ ...t, jti: 'x', rule: 'api#0', issuedAt: 800 })).toEqual(r2);
    expect(await s.isRevoked({ ...t, jti: 'x', rule: 'api#0', issuedAt: 950 })).toBeUndefined();
    await s.revoke('project', 'web', undefined);
    expect(await s.isRevoked({ jti: 'x', project: 'web', issuedAt: 1 })).toMatchObject({ kind: 'project' });
    expect((await s.revocations()).map((r) => r.kind)).toEqual(['jti', 'rule', 'project']);
  });

  it('fork-PR claims: stored at once, checked, refused, used once, only unexpired; purged', async () => {
    const s = await store((await database()).url, randomBytes(32));
    const row = {
      idSha256: 'a'.repeat(64),
      challenge: 'ch',
      repository: 'acme/web',
      runId: 12_345_678_901,
      runAttempt: 1,
      pullRequest: 7,
      project: 'web',
      rule: 'web#0',
      createdAt: 1_700_000_000_000,
      expiresAt: 1_700_000_600_000,
    };
    await s.createClaim(row);
    expect(await s.claim(row.idSha256)).toEqual(row);
    expect(await s.claim('b'.repeat(64))).toBeUndefined();
    await s.claimChecked(row.idSha256, '{"ok":true}');
    expect(await s.claim(row.idSha256)).toEqual({ ...row, checked: '{"ok":true}' });
    expect(await s.useClaim(row.idSha256, row.expiresAt)).toBe(false); // expired at that instant
    const uses = await Promise.all(
      Array.from({ length: 10 }, () => s.useClaim(row.idSha256, row.createdAt + 1)),
    );
    expect(uses.filter(Boolean)).toHaveLength(1);
    await s.refuseClaimWith(row.idSha256, 'claim_refused', 'too late');
    expect((await s.claim(row.idSha256))?.refusal).toBeUndefined(); // a used claim keeps its state

    const other = { ...row, idSha256: 'c'.repeat(64) };
    await s.createClaim(other);
    await s.refuseClaimWith(other.idSha256, 'claim_refused', 'no');
    expect(await s.claim(other.idSha256)).toMatchObject({ refusal: 'claim_refused', refusalMessage: 'no' });
    expect(await s.useClaim(other.idSha256, row.createdAt + 1)).toBe(false);
    expect(await s.purgeClaims(row.expiresAt + 1)).toBe(2);
  });

  it('signing keys round-trip in order, the private halves encrypted at rest and bound to their row', async () => {
    const db = await database();
    const secret = randomBytes(32);
    const s = await store(db.url, secret);
    expect(await s.signingKeys()).toEqual([]);
    const keys: StoredKey[] = [
      {
        kid: 'k-next',
        state: 'next',
        privateJwk: { kty: 'EC', crv: 'P-256', d: 'PRIVATE-NEXT', x: 'x1', y: 'y1' },
        publicJwk: { kty: 'EC', crv: 'P-256', x: 'x1', y: 'y1', kid: 'k-next' },
        createdAt: 10,
      },
      {
        kid: 'k-cur',
        state: 'current',
        privateJwk: { kty: 'EC', crv: 'P-256', d: 'PRIVATE-CUR', x: 'x2', y: 'y2' },
        publicJwk: { kty: 'EC', crv: 'P-256', x: 'x2', y: 'y2', kid: 'k-cur' },
        createdAt: 5,
        currentSince: 6,
      },
      {
        kid: 'k-old',
        state: 'retired',
        privateJwk: { kty: 'EC', crv: 'P-256', d: 'PRIVATE-OLD', x: 'x3', y: 'y3' },
        publicJwk: { kty: 'EC', crv: 'P-256', x: 'x3', y: 'y3', kid: 'k-old' },
        createdAt: 1,
        currentSince: 2,
        publishUntil: 99,
      },
    ];
    await s.saveSigningKeys(keys);
    expect(await s.signingKeys()).toEqual(keys);
    await s.saveSigningKeys(keys.slice(0, 2));
    expect((await s.signingKeys()).map((k) => k.kid)).toEqual(['k-next', 'k-cur']);

    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      const dump = JSON.stringify((await raw.query('SELECT * FROM signing_key')).rows);
      expect(dump).not.toContain('PRIVATE-');
      // A ciphertext moved to another row does not open.
      await raw.query(
        `UPDATE signing_key SET private_jwk_enc = (SELECT private_jwk_enc FROM signing_key WHERE kid = 'k-cur')
         WHERE kid = 'k-next'`,
      );
    } finally {
      await raw.end();
    }
    await expect(s.signingKeys()).rejects.toThrow(
      /signing key k-next cannot be decrypted with BROKER_KEY_SECRET/,
    );
    // Another secret opens nothing, and no message carries a secret.
    const other = await store(db.url, randomBytes(32));
    const err = await refusal(other.signingKeys());
    expect(err).toBeInstanceOf(Error);
    expect(err.message).not.toContain(secret.toString('base64'));
  });

  it('the registry CA is stored once and never replaced; the signer is replaced', async () => {
    const db = await database();
    const secret = randomBytes(32);
    const [a, b] = await Promise.all([store(db.url, secret), store(db.url, secret)]);
    expect(await a.registryCa()).toBeUndefined();
    const [fromA, fromB] = await Promise.all([
      a.initRegistryCa({ certPem: 'CERT-A', keyPem: 'KEY-A' }),
      b.initRegistryCa({ certPem: 'CERT-B', keyPem: 'KEY-B' }),
    ]);
    expect(fromB).toEqual(fromA);
    expect(await b.initRegistryCa({ certPem: 'CERT-C', keyPem: 'KEY-C' })).toEqual(fromA);
    expect(await a.registrySigner()).toBeUndefined();
    await a.saveRegistrySigner({ certPem: 'LEAF-1', keyPem: 'LEAF-KEY-1' });
    await a.saveRegistrySigner({ certPem: 'LEAF-2', keyPem: 'LEAF-KEY-2' });
    expect(await b.registrySigner()).toEqual({ certPem: 'LEAF-2', keyPem: 'LEAF-KEY-2' });
  });
});

describe('rotate-key-secret', () => {
  it('re-encrypts every stored private key under the new secret; the old secret is read only where listed as previous', async () => {
    const db = await database();
    const oldSecret = randomBytes(32);
    const newSecret = randomBytes(32);
    const before = await store(db.url, oldSecret);
    const key: StoredKey = {
      kid: 'k1',
      state: 'current',
      privateJwk: { kty: 'EC', crv: 'P-256', d: 'PRIVATE-1', x: 'x', y: 'y' },
      publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k1' },
      createdAt: 1,
    };
    await before.saveSigningKeys([key]);
    await before.initRegistryCa({ certPem: 'CA', keyPem: 'CA-KEY' });
    await before.saveRegistrySigner({ certPem: 'LEAF', keyPem: 'LEAF-KEY' });
    // Rolling out: an instance on the new secret that still accepts the old one rotates.
    const rolling = await store(db.url, newSecret, { previousKeySecrets: [oldSecret] });
    expect(await rolling.signingKeys()).toEqual([key]);
    expect(await rolling.rotateKeySecret(newSecret)).toEqual({ keys: 3, underOther: 3 });
    // Again, once all is under it: nothing was under another secret.
    expect(await rolling.rotateKeySecret(newSecret)).toEqual({ keys: 3, underOther: 0 });
    const after = await store(db.url, newSecret);
    expect(await after.signingKeys()).toEqual([key]);
    expect(await after.registryCa()).toEqual({ certPem: 'CA', keyPem: 'CA-KEY' });
    expect(await after.registrySigner()).toEqual({ certPem: 'LEAF', keyPem: 'LEAF-KEY' });
    await expect(before.signingKeys()).rejects.toThrow(/cannot be decrypted with BROKER_KEY_SECRET/);
    // A store whose secrets open nothing changes nothing.
    const stranger = await store(db.url, randomBytes(32));
    const refused = await refusal(stranger.rotateKeySecret(randomBytes(32)));
    expect(refused.message).toMatch(/cannot be decrypted/);
    expect(refused).not.toBeInstanceOf(StoreUnavailableError); // a wrong secret is not an outage
    expect(await after.signingKeys()).toEqual([key]);
  });
});

describe('migrations', () => {
  it('stores opening one empty database at the same time migrate it once', async () => {
    const db = await database();
    const secret = randomBytes(32);
    const stores = await Promise.all(Array.from({ length: 4 }, () => store(db.url, secret)));
    for (const s of stores) expect(await s.version()).toBe(SCHEMA_VERSION);
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      expect((await raw.query('SELECT version FROM broker_schema')).rows).toEqual([
        { version: SCHEMA_VERSION },
      ]);
      expect((await raw.query('SELECT count(*)::int AS n FROM broker_change')).rows).toEqual([{ n: 3 }]);
      // A broker from the future: this one refuses to open its database, in one line.
      await raw.query('UPDATE broker_schema SET version = $1', [MIGRATIONS.length + 1]);
    } finally {
      await raw.end();
    }
    await expect(store(db.url, secret)).rejects.toThrow(
      new RegExp(`schema version ${MIGRATIONS.length + 1}\\) was written by a newer broker`),
    );
  });
  it("a broker command's store (upgrade: false) sets up an empty database but does not upgrade an older one, which is left as it is", async () => {
    const db = await database();
    const secret = randomBytes(32);
    const first = await store(db.url, secret, { upgrade: false });
    expect(await first.version()).toBe(SCHEMA_VERSION);
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      // The state as the release before this one left it (its version; the migration's changes are not undone, but a
      // command that ran it again would fail on them, so a refusal before it is what is checked).
      await raw.query('UPDATE broker_schema SET version = $1', [SCHEMA_VERSION - 1]);
      await expect(store(db.url, secret, { upgrade: false })).rejects.toThrow(
        `the broker state (schema version ${SCHEMA_VERSION - 1}) is older than this release's (version ${SCHEMA_VERSION}), and a broker command does not upgrade it`,
      );
      expect((await raw.query('SELECT version FROM broker_schema')).rows).toEqual([
        { version: SCHEMA_VERSION - 1 },
      ]);
    } finally {
      await raw.end();
    }
  });
});

describe('several instances on one database', () => {
  it('3 instances, 50 rounds of one jti tried by all at once: exactly one true each time', async () => {
    const db = await database();
    const secret = randomBytes(32);
    const stores = await Promise.all([0, 1, 2].map(() => store(db.url, secret)));
    for (let round = 0; round < 50; round++) {
      const jti = `round-${round}`;
      const tries = await Promise.all(
        Array.from({ length: 15 }, (_, i) =>
          (stores[i % 3] as PostgresStore).useJti('https://iss', jti, 9e9),
        ),
      );
      expect(tries.filter(Boolean), `round ${round}`).toHaveLength(1);
    }
  });

  it('the unverified-audit count: a client admitted once a minute by any instance, the cap shared, 200 tries at once; old minutes purged', async () => {
    const db = await database();
    const secret = randomBytes(32);
    // Instance a through a proxy that counts its counting statements.
    const proxy = await spoilingProxy(db.url);
    const stores = [await store(proxy.url, secret), await store(db.url, secret)];
    const [a, b] = stores as [PostgresStore, PostgresStore];
    proxy.arm((d) => d.includes('broker-count-unverified'), 'cut', 0);
    const minute = Date.UTC(2026, 0, 1, 10, 0);
    expect(await a.admitUnverified(minute, '127.0.0.1', 3)).toBe('admit');
    expect(await b.admitUnverified(minute, '127.0.0.1', 3)).toBe('seen');
    // No address: only the cap counts.
    expect(await b.admitUnverified(minute, '', 3)).toBe('admit');
    expect(await a.admitUnverified(minute, '', 3)).toBe('admit');
    expect(await a.admitUnverified(minute, '127.0.0.2', 3)).toBe('full');
    expect(await b.admitUnverified(minute + 60_000, '127.0.0.1', 3)).toBe('admit');
    // A cap of 0 admits nothing, a first sighting included.
    expect(await a.admitUnverified(minute + 120_000, '127.0.0.3', 0)).toBe('full');
    // 200 distinct clients at once on both instances: exactly the cap admitted.
    const next = minute + 180_000;
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        stores[i % 2]?.admitUnverified(next, `10.0.${i >> 8}.${i & 255}`, 25),
      ),
    );
    expect(answers.filter((x) => x === 'admit')).toHaveLength(25);
    expect(answers.filter((x) => x === 'full')).toHaveLength(175);
    // Instance a's 100 went in a few statements, one at a time, not one each.
    const before = proxy.seen();
    expect(before).toBeLessThan(5 + 10);
    expect(before).toBeGreaterThan(5);
    // One client twice in one statement (queued together behind one in flight): once admitted, once seen.
    const [, ...twice] = await Promise.all(
      ['10.1.0.9', '10.1.0.1', '10.1.0.1'].map((k) => a.admitUnverified(next, k, 1_000)),
    );
    expect(twice).toEqual(['admit', 'seen']);
    // purgeExpired (housekeeping, each minute) forgets the minutes more than 5 minutes old.
    await a.purgeExpired(Math.floor((next + 60_000) / 1000) + 300 - 120, 0);
    expect(await scalar(db.url, 'SELECT min(minute) AS n FROM unverified_budget')).toBe(minute + 120_000);
    expect(await scalar(db.url, 'SELECT min(minute) AS n FROM unverified_seen')).toBe(minute + 120_000);
    await a.close();
    await proxy.close();
  });

  it('the unverified-audit count on 3 instances, overlapping clients in random order, 30 minutes: never a deadlock, never past the cap', async () => {
    const db = await database();
    const secret = randomBytes(32);
    const stores = await Promise.all([0, 1, 2].map(() => store(db.url, secret)));
    const clients = Array.from({ length: 400 }, (_, i) => `2001:db8:${i.toString(16)}::/64`);
    const failures: string[] = [];
    for (let round = 0; round < 30; round++) {
      const minute = Date.UTC(2026, 0, 1, 11, round);
      const answers = await Promise.all(
        stores.flatMap((st) =>
          [...clients]
            .sort(() => Math.random() - 0.5)
            .slice(0, 150 + Math.floor(Math.random() * 250))
            .map((k) =>
              st.admitUnverified(minute, k, 300).catch((err: unknown) => {
                failures.push((err as Error).message);
                return 'failed';
              }),
            ),
        ),
      );
      expect(answers.filter((a) => a === 'admit').length).toBeLessThanOrEqual(300);
    }
    expect(failures).toEqual([]);
  });

  it('a revocation, a key rotation and a new signer through one instance reach the others through NOTIFY, within 5 s', async () => {
    const db = await database();
    const secret = randomBytes(32);
    // A poll of a minute: only LISTEN/NOTIFY can deliver within the 5 s.
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => store(db.url, secret, { pollMs: 60_000 })));
    await within(5_000, async () => (b?.isListening() && c?.isListening() ? true : undefined));
    const heard: StoreChange[] = [];
    c?.onChange((what) => heard.push(what));
    const subject = { jti: 'tok-1', project: 'web', issuedAt: 100 };
    expect(await b?.isRevoked(subject)).toBeUndefined();
    await a?.revoke('jti', 'tok-1', undefined);
    const seen = await within(5_000, () => b!.isRevoked(subject));
    expect(seen.after).toBeLessThan(5_000);
    await a?.saveSigningKeys([]);
    await a?.saveRegistrySigner({ certPem: 'L', keyPem: 'K' });
    await within(5_000, async () =>
      heard.includes('revocations') && heard.includes('keys') && heard.includes('signer') ? true : undefined,
    );
  });

  it('the poll delivers a change when no notification does', async () => {
    const db = await database();
    const secret = randomBytes(32);
    const a = await store(db.url, secret, { pollMs: 200 });
    const heard: StoreChange[] = [];
    a.onChange((what) => heard.push(what));
    // A change whose notification never came (its serial bumped by hand, no NOTIFY): the poll finds it.
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      await raw.query("UPDATE broker_change SET serial = serial + 1 WHERE what = 'keys'");
    } finally {
      await raw.end();
    }
    await within(3_000, async () => (heard.includes('keys') ? true : undefined));
  });
});

describe('durability', () => {
  it('a database set to synchronous_commit = off: the store commits with it on (a used jti is flushed before it counts)', async () => {
    const db = await database();
    const name = decodeURIComponent(new URL(db.url).pathname.slice(1));
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      await raw.query(`ALTER DATABASE "${name.replace(/"/g, '""')}" SET synchronous_commit = off`);
    } finally {
      await raw.end();
    }
    const plain = new pg.Client({ connectionString: db.url });
    await plain.connect();
    try {
      expect((await plain.query('SHOW synchronous_commit')).rows[0]).toEqual({ synchronous_commit: 'off' });
    } finally {
      await plain.end();
    }
    const s = await store(db.url, randomBytes(32));
    expect(await s.useJti('https://iss', 'flushed', 9e9)).toBe(true);
    // Every connection of its pool, the ones the uses go through.
    const pool = (s as unknown as { pool: pg.Pool }).pool;
    const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
    try {
      for (const c of clients)
        expect((await c.query('SHOW synchronous_commit')).rows[0]).toEqual({ synchronous_commit: 'on' });
    } finally {
      for (const c of clients) c.release();
    }
  });
});

describe('the LISTEN connection lost', () => {
  it('a change made while it was down arrives once it listens again (a resync), not a minute later by the poll', async () => {
    const db = await database();
    const secret = randomBytes(32);
    const a = await store(db.url, secret, { pollMs: 60_000 });
    const b = await store(db.url, secret, { pollMs: 60_000, reconnectMs: 1_500 });
    await within(5_000, async () => (a.isListening() && b.isListening() ? true : undefined));
    const heard: StoreChange[] = [];
    b.onChange((what) => heard.push(what));
    // b has read the revocations: it reads them again only when it hears they changed.
    expect(await b.isRevoked({ project: 'web', issuedAt: 1 })).toBeUndefined();
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      const cut = await raw.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'depot-oidc-broker-listen'",
      );
      expect(cut.rowCount).toBe(2);
    } finally {
      await raw.end();
    }
    await within(2_000, async () => (b.isListening() ? undefined : true));
    // Made while b hears nothing: its NOTIFY is lost to b.
    await a.revoke('project', 'web', undefined);
    expect(b.isListening()).toBe(false);
    const seen = await within(8_000, () => b.isRevoked({ project: 'web', issuedAt: 1 }));
    expect(seen.after).toBeLessThan(8_000);
    expect(b.isListening()).toBe(true);
    expect(heard).toContain('revocations');
  });
});

describe('the first LISTEN at open', () => {
  it('a LISTEN that is never answered does not hold open(): the store opens, then listens once a new connection does', async () => {
    // As behind a pooler whose server pool is full: the LISTEN waits. open() waited for it without end (a review).
    const db = await database();
    const proxy = await spoilingProxy(db.url);
    try {
      proxy.arm((d) => d.includes('LISTEN broker_change'), 'dropped');
      const started = Date.now();
      const s = await store(proxy.url, randomBytes(32), { pollMs: 60_000, reconnectMs: 100 });
      expect(Date.now() - started).toBeLessThan(9_000);
      expect(proxy.seen()).toBe(1);
      // The stuck LISTEN is given up after its timeout; the next connection listens (and has heard itself).
      await within(10_000, async () => (s.isListening() ? true : undefined));
      expect(proxy.seen()).toBe(2);
    } finally {
      await proxy.close();
    }
  });
});

describe('the database stopped mid-run', () => {
  it('writes and ready() fail fast with StoreUnavailableError; after a restart the stores recover and LISTEN again', async () => {
    // A server of its own: stopping the shared one would break whatever else uses it meanwhile.
    const server = await privateServer();
    servers.push(server);
    const db = { url: server.url };
    const secret = randomBytes(32);
    const [a, b] = await Promise.all(
      [0, 1].map(() => store(db.url, secret, { pollMs: 60_000, writeDeadlineMs: 1_000 })),
    );
    await within(5_000, async () => (a?.isListening() && b?.isListening() ? true : undefined));
    expect(await a?.useJti('https://iss', 'before', 9e9)).toBe(true);
    try {
      await server.stop();
      const start = Date.now();
      const err = await a!.useJti('https://iss', 'during', 9e9).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - start).toBeLessThan(2_500);
      const password = new URL(db.url).password;
      expect((err as Error).message).not.toContain(password);
      await expect(a!.ready()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(b!.revoke('jti', 'x', undefined)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await server.start();
    }
    await within(10_000, async () => ((await a!.ready().then(() => true)) ? true : undefined));
    // Nothing was recorded by the failed write: the jti is still unused; the one before is still used.
    expect(await a?.useJti('https://iss', 'during', 9e9)).toBe(true);
    expect(await b?.useJti('https://iss', 'before', 9e9)).toBe(false);
    // LISTEN is back (reconnect with backoff): a revocation through one reaches the other without the poll.
    await within(10_000, async () => (a?.isListening() && b?.isListening() ? true : undefined));
    await a?.revoke('project', 'web', undefined);
    await within(5_000, () => b!.isRevoked({ project: 'web', issuedAt: 1 }));
  });
});

/** Another transaction's uncommitted insert of `jti`: a use of it waits on that row until `release`. */
async function holdingLock(url: string, jti: string) {
  const raw = new pg.Client({ connectionString: url });
  await raw.connect();
  await raw.query('BEGIN');
  await raw.query("INSERT INTO used_jti (issuer, jti, expires_at) VALUES ('https://iss', $1, 9000000000)", [
    jti,
  ]);
  return {
    raw,
    release: async (how: 'COMMIT' | 'ROLLBACK') => {
      await raw.query(how);
      await raw.end();
    },
  };
}

/** A number the query answers (its first column of its first row), on a connection of its own. */
async function scalar(url: string, sql: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ n: number }>(sql);
    return Number(r.rows[0]?.n);
  } finally {
    await c.end();
  }
}

describe('a jti row locked by another transaction', () => {
  it('released within the deadline: the write waits and decides (rolled back: true; committed: false)', async () => {
    const db = await database();
    const s = await store(db.url, randomBytes(32), { writeDeadlineMs: 1_000 });
    const a = await holdingLock(db.url, 'rolled-back');
    const pending = s.useJti('https://iss', 'rolled-back', 9e9);
    await new Promise((r) => setTimeout(r, 200));
    await a.release('ROLLBACK');
    expect(await pending).toBe(true);
    const b = await holdingLock(db.url, 'committed');
    const pending2 = s.useJti('https://iss', 'committed', 9e9);
    await new Promise((r) => setTimeout(r, 200));
    await b.release('COMMIT');
    expect(await pending2).toBe(false);
  });

  it('held past the deadline: StoreUnavailableError, and the insert that commits later is undone (the jti stays unused)', async () => {
    const db = await database();
    const s = await store(db.url, randomBytes(32), { writeDeadlineMs: 300 });
    const held = await holdingLock(db.url, 'late');
    const start = Date.now();
    const err = await refusal(s.useJti('https://iss', 'late', 9e9));
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - start).toBeLessThan(1_000);
    await held.release('ROLLBACK');
    // The waiting insert now commits, then is deleted again in the background.
    await new Promise((r) => setTimeout(r, 300));
    await within(3_000, async () => ((await usedRows(db.url, 'late')) === 0 ? true : undefined));
    expect(await s.useJti('https://iss', 'late', 9e9)).toBe(true);
    expect(await s.useJti('https://iss', 'late', 9e9)).toBe(false);
  });
  it('an undo whose first try ran but lost its answer is tried again, and that try leaves the row of the exchange that won since', async () => {
    const db = await database();
    const proxy = await spoilingProxy(db.url);
    const secret = randomBytes(32);
    const a = await store(proxy.url, secret, { writeDeadlineMs: 300 });
    const b = await store(db.url, secret);
    try {
      // A's use waits on a row another transaction holds, is answered 503 at its deadline, and commits once the other
      // transaction rolls back: A then deletes it again, and the answer to that DELETE is cut.
      const held = await holdingLock(db.url, 'contested');
      expect(await refusal(a.useJti('https://iss', 'contested', 9e9))).toBeInstanceOf(StoreUnavailableError);
      proxy.arm((d) => d.includes('DELETE FROM used_jti') || d.includes('broker-unuse-jtis'), 'cut');
      await held.release('ROLLBACK');
      await within(3_000, async () => ((await usedRows(db.url, 'contested')) === 0 ? true : undefined));
      // The token, answered 503, is tried again (through another instance) and wins: a token goes out for it.
      expect(await b.useJti('https://iss', 'contested', 9e9)).toBe(true);
      // A's second try of its undo (a second after the first) must not delete that row.
      await within(5_000, async () => (proxy.seen() >= 2 ? true : undefined));
      await new Promise((r) => setTimeout(r, 500));
      expect(await usedRows(db.url, 'contested')).toBe(1);
      expect(await b.useJti('https://iss', 'contested', 9e9)).toBe(false);
      expect(await a.useJti('https://iss', 'contested', 9e9)).toBe(false);
    } finally {
      await Promise.all(open.splice(0).map((s) => s.close()));
      await proxy.close();
    }
  });
});

describe('a database that stops answering', () => {
  const row = {
    at: 1,
    provider: 'github-actions',
    issuer: 'github-actions',
    outcome: 'ok',
    kind: 'exchange',
  };
  /** The store's connections waiting on a lock now. */
  const lockWaiters = (url: string) =>
    scalar(
      url,
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'depot-oidc-broker' AND wait_event_type = 'Lock'`,
    );

  it('statements hung on a lock: every caller 503s at its deadline and leaves nothing queued, audit rows are capped, the hung statements are cancelled while the lock is still held; afterwards no refused jti is used', async () => {
    const db = await database();
    const reports: string[] = [];
    const s = await store(db.url, randomBytes(32), {
      writeDeadlineMs: 300,
      onError: (e) => reports.push((e as Error).message),
    });
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE used_jti, audit IN EXCLUSIVE MODE');
    try {
      // 3,000 audit rows at once: the oldest past the cap are dropped (their audit() rejects). Then 2,000 exchanges'
      // uses: two used-jti statements (each taking 512 waiting audit rows along) and one audit statement go, and hang.
      const audits = Array.from({ length: 3_000 }, (_, i) =>
        refusal(s.audit({ ...row, requestId: `hung-${i}` })),
      );
      expect(s.backlog().audits).toBe(AUDIT_QUEUE_MAX);
      expect(s.stats().auditRowsDropped).toBe(3_000 - AUDIT_QUEUE_MAX);
      const uses = Array.from({ length: 2_000 }, (_, i) =>
        refusal(s.useJti('https://iss', `hung-${i}`, 9e9)),
      );
      for (const err of await Promise.all(uses)) expect(err).toBeInstanceOf(StoreUnavailableError);
      for (const err of await Promise.all(audits)) expect(err).toBeInstanceOf(StoreUnavailableError);
      // Every caller has its answer, and nothing of theirs is left to send.
      expect(s.backlog()).toMatchObject({ jtis: 0, audits: 0, undos: 0 });
      expect(reports).toContainEqual(
        expect.stringMatching(new RegExp(`^${3_000 - AUDIT_QUEUE_MAX} audit rows dropped unwritten`)),
      );
      // The server cancels the hung statements (statement_timeout) while the lock is still held: their slots and
      // connections are free again, and nothing is sent in their place.
      await within(3_000, async () => ((await lockWaiters(db.url)) === 0 ? true : undefined));
      await new Promise((r) => setTimeout(r, 300));
      expect(await lockWaiters(db.url)).toBe(0);
      expect(s.backlog()).toMatchObject({ jtis: 0, audits: 0, undos: 0 });
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    // Released: a fresh token goes through; none of the refused uses or audit rows was written, then or later.
    expect(await s.useJti('https://iss', 'fresh', 9e9)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(await scalar(db.url, `SELECT count(*)::int AS n FROM used_jti WHERE jti LIKE 'hung-%'`)).toBe(0);
    expect(await scalar(db.url, `SELECT count(*)::int AS n FROM audit WHERE request_id LIKE 'hung-%'`)).toBe(
      0,
    );
    // A refused token retried wins once, then is a replay.
    expect(await s.useJti('https://iss', 'hung-7', 9e9)).toBe(true);
    expect(await s.useJti('https://iss', 'hung-7', 9e9)).toBe(false);
  });

  it('no answer at all to a used-jti statement (a lost connection, a stuck commit): 503 at the deadline, the slot free again after the reply timeout, and the row the unanswered insert committed deleted by its own id', async () => {
    const db = await database();
    const proxy = await spoilingProxy(db.url);
    const s = await store(proxy.url, randomBytes(32), { writeDeadlineMs: 300 });
    try {
      // Both slots: two statements the server runs and commits, whose answers never arrive.
      proxy.arm((d) => d.includes('broker-use-jtis'), 'dropped', 2);
      const lost = await Promise.all([
        refusal(s.useJti('https://iss', 'lost-1', 9e9)),
        refusal(s.useJti('https://iss', 'lost-2', 9e9)),
      ]);
      for (const err of lost) expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(await usedRows(db.url, 'lost-1')).toBe(1); // committed: the store cannot know
      // The slots come back (the client gives up on the answer) and a fresh token goes through.
      const fresh = await within(6_000, () => s.useJti('https://iss', 'fresh', 9e9));
      expect(fresh.value).toBe(true);
      expect(await s.useJti('https://iss', 'fresh', 9e9)).toBe(false);
      // The unanswered inserts, outcome unknown, are undone by their own ids: the refused tokens are unused again.
      await within(5_000, async () =>
        (await usedRows(db.url, 'lost-1')) + (await usedRows(db.url, 'lost-2')) === 0 ? true : undefined,
      );
      expect(await s.useJti('https://iss', 'lost-2', 9e9)).toBe(true);
      expect(await s.useJti('https://iss', 'lost-2', 9e9)).toBe(false);
    } finally {
      await Promise.all(open.splice(0).map((st) => st.close()));
      await proxy.close();
    }
  });

  it('new connections that stall right after their login (before their session settings are answered): 503 at the deadline, then the slots come back', async () => {
    const db = await database();
    const proxy = await spoilingProxy(db.url);
    const s = await store(proxy.url, randomBytes(32), { writeDeadlineMs: 300 });
    try {
      // No idle pooled connection left: the next uses each open a new one.
      await scalar(
        db.url,
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'depot-oidc-broker'`,
      );
      await new Promise((r) => setTimeout(r, 200));
      proxy.arm((d) => d.includes('SET statement_timeout'), 'dropped', 2);
      const stalled = await Promise.all([
        refusal(s.useJti('https://iss', 'stalled-1', 9e9)),
        refusal(s.useJti('https://iss', 'stalled-2', 9e9)),
      ]);
      for (const err of stalled) expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(proxy.seen()).toBe(2);
      // The stalled connections are ended (their settings had a deadline), so both slots serve again.
      const after = await within(6_000, () => s.useJti('https://iss', 'after-stall', 9e9));
      expect(after.value).toBe(true);
      expect(await s.useJti('https://iss', 'stalled-1', 9e9)).toBe(true);
    } finally {
      // Bounded: a store whose slots never came back would wait here for good.
      await Promise.race([
        Promise.all(open.splice(0).map((st) => st.close())),
        new Promise((r) => setTimeout(r, 3_000)),
      ]);
      await proxy.close();
    }
  });
});

describe('configuration and secrets', () => {
  it('BROKER_KEY_SECRET: 32 bytes of base64, refused in one line without its value', () => {
    expect(parseKeySecret(randomBytes(32).toString('base64'))).toHaveLength(32);
    expect(() => parseKeySecret(undefined)).toThrow(/BROKER_KEY_SECRET is not set/);
    const short = randomBytes(16).toString('base64');
    expect(() => parseKeySecret(short)).toThrow(/must be 32 random bytes in base64/);
    try {
      parseKeySecret(short);
    } catch (err: unknown) {
      expect((err as Error).message).not.toContain(short);
    }
    const k = randomBytes(32);
    expect(unseal(k, 'label', seal(k, 'label', 'hello'))).toBe('hello');
    expect(() => unseal(k, 'other', seal(k, 'label', 'hello'))).toThrow(/cannot be decrypted/);
  });

  it('the database URL never appears with its password: redacted, and not in a refused login', async () => {
    expect(redactUrl('postgres://broker:s3cr3t-pw@db:5432/broker?sslmode=require')).toBe(
      'postgres://broker:***@db:5432/broker',
    );
    const url = new URL(await testDatabaseUrl());
    url.password = 'wrong-password-value';
    const err = await refusal(
      PostgresStore.open({ url: url.toString(), keySecret: randomBytes(32), dataDir: '/x' }),
    );
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(
      /could not open the PostgreSQL store: PostgreSQL at postgres:\/\/broker:\*\*\*@/,
    );
    expect(err.message).not.toContain('wrong-password-value');
    await expect(openPostgresStore('BROKER_DATABASE_URL', {}, { dataDir: '/x' })).rejects.toThrow(
      /BROKER_DATABASE_URL is not set/,
    );
    await expect(openPostgresStore('DB', { DB: url.toString() }, { dataDir: '/x' })).rejects.toThrow(
      /BROKER_KEY_SECRET is not set/,
    );
  });
});
