// The PostgreSQL store's care (issue 25), on the real database of scripts/postgres.sh, a fresh database per test:
// audit retention, the operator's commands against a `store: postgres` config (audit, revoke, rotate-keys through
// the database, backup and restore naming pg_dump, rotate-key-secret), and the broker refusing to start without
// BROKER_KEY_SECRET. No command's output carries the database password or a key secret.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startIssuer } from '../../../test/support/issuer';
import type { LocalIssuer } from '../../../test/support/issuer';
import { freshDatabase, keySecret } from '../../../test/support/postgres';
import type { TestDatabase } from '../../../test/support/postgres';
import { createBroker } from '../broker';
import { KeyStore } from '../keys';
import { REPO_ROOT } from '../settings';
import { purgeAuditBefore } from './audit-bounds';
import { PostgresStore } from './postgres';
import { logInto } from '../../../test/support/log';

const tsx = resolve(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const main = resolve(REPO_ROOT, 'oidc-broker', 'src', 'main.ts');

let issuer: LocalIssuer;
let dir: string;
let configPath: string;
let db: TestDatabase;
let secret: string;
const outputs: string[] = [];

beforeAll(async () => {
  issuer = await startIssuer();
  dir = mkdtempSync(join(tmpdir(), 'broker-pg-care-'));
  configPath = join(dir, 'broker.yml');
  issuer.defaults.aud = 'http://127.0.0.1:8080';
  writeFileSync(
    configPath,
    `public_url: http://127.0.0.1:8080
issuers:
  github-actions:
    issuer: ${issuer.url}
    jwks_uri: ${issuer.url}/.well-known/jwks
store: { postgres: { url_env: CARE_DATABASE_URL } }
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
`,
  );
});

beforeEach(async () => {
  db = await freshDatabase();
  secret = keySecret();
});
afterEach(async () => db.drop());

afterAll(async () => {
  await issuer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const open = (keySecretValue = secret) =>
  PostgresStore.open({ url: db.url, keySecret: Buffer.from(keySecretValue, 'base64'), dataDir: dir });

/** `npm run broker -- ARGS` with the config above; env: the database URL and BROKER_KEY_SECRET unless replaced. */
function cli(args: string[], env: Record<string, string | undefined> = {}) {
  // rotate-key-secret has no data dir: everything it touches is in the database.
  const dataDir = args[0] === 'rotate-key-secret' ? [] : ['--data-dir', join(dir, 'data')];
  const r = spawnSync(tsx, [main, ...args, '--config', configPath, ...dataDir], {
    encoding: 'utf8',
    env: { ...process.env, CARE_DATABASE_URL: db.url, BROKER_KEY_SECRET: secret, ...env },
  });
  outputs.push(r.stdout, r.stderr);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** No output so far carries the database password or any of `secrets`. */
function leaksNothing(...secrets: string[]): void {
  const text = outputs.join('\n');
  const password = decodeURIComponent(new URL(db.url).password);
  expect(password.length).toBeGreaterThan(4);
  for (const s of [password, ...secrets]) expect(text).not.toContain(s);
}

describe('audit retention on PostgreSQL', () => {
  it('deletes the rows older than the cut in batches and keeps the newer ones', async () => {
    const store = await open();
    try {
      const now = 2_000_000_000;
      const rows = [
        ...Array.from({ length: 25 }, (_, i) => ({ at: now - 100 - i, requestId: `old-${i}` })),
        ...Array.from({ length: 3 }, (_, i) => ({ at: now - 10 + i, requestId: `new-${i}` })),
      ];
      await Promise.all(rows.map((r) => store.audit({ ...r, provider: 'p', issuer: 'i', outcome: 'ok' })));
      await store.audit({ at: now, provider: '', issuer: '', outcome: 'suppressed', suppressed: 7 });
      expect(await purgeAuditBefore(store, now - 50, 10)).toBe(25);
      const left = await store.queryAudit({});
      expect(left.map((r) => r.requestId ?? r.suppressed)).toEqual(['new-0', 'new-1', 'new-2', 7]);
    } finally {
      await store.close();
    }
  });
});

describe('the commands against a PostgreSQL store', () => {
  it('audit and revoke read and write the database, not a data dir', async () => {
    const store = await open();
    try {
      await store.audit({
        at: 1000,
        provider: 'github-actions',
        issuer: 'gh',
        outcome: 'ok',
        requestId: 'req-pg',
      });
      const revoked = cli(['revoke', '--jti', 'tok-pg']);
      expect(revoked.stderr).toBe('');
      expect(revoked.stdout).toMatch(/^revoked project token tok-pg/);
      expect(await store.revocations()).toMatchObject([{ kind: 'jti', value: 'tok-pg' }]);
      const audit = cli(['audit']);
      expect(audit.status).toBe(0);
      const lines = audit.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toEqual([
        expect.objectContaining({ requestId: 'req-pg', outcome: 'ok' }),
        expect.objectContaining({ kind: 'revocation', revoked: 'jti', value: 'tok-pg' }),
      ]);
    } finally {
      await store.close();
    }
    leaksNothing(secret);
  });

  it('rotate-keys rotates in the database; backup and restore name pg_dump and the variable, never the URL', async () => {
    const store = await open();
    try {
      const keys = await KeyStore.open({ store, dataDir: join(dir, 'keys-a') });
      const before = keys.signingKey().kid;
      keys.close();
      const r = cli(['rotate-keys']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^rotated in the database: /);
      const stored = await store.signingKeys();
      expect(stored.find((k) => k.kid === before)?.state).toBe('retired');
      expect(stored.find((k) => k.state === 'current')?.kid).not.toBe(before);
    } finally {
      await store.close();
    }
    const backup = cli(['backup', '--out', join(dir, 'never')]);
    expect(backup.status).toBe(1);
    expect(backup.stderr.trim().split('\n')).toHaveLength(1);
    expect(backup.stderr).toContain('back it up with pg_dump');
    expect(backup.stderr).toContain('$CARE_DATABASE_URL');
    const restore = cli(['restore', '--from', join(dir, 'never')]);
    expect(restore.status).toBe(1);
    expect(restore.stderr).toContain('pg_restore');
    leaksNothing(secret);
  });

  it('rotate-key-secret: a broker with only the new secret publishes the same keys and signs', async () => {
    const logs: string[] = [];
    const log = logInto(logs);
    const brokerWith = (value: string) =>
      createBroker({
        configPath,
        dataDir: join(dir, 'data-broker'),
        log,
        env: { CARE_DATABASE_URL: db.url, BROKER_KEY_SECRET: value },
      });
    const first = await brokerWith(secret);
    const jwksBefore: unknown = await (await first.app.request('/.well-known/jwks.json')).json();
    await first.close();

    const next = keySecret();
    const missing = cli(['rotate-key-secret']);
    expect([missing.status, missing.stderr.trim()]).toEqual([
      1,
      'broker: BROKER_KEY_SECRET_NEW is not set: the new secret to re-encrypt the stored keys under (openssl rand -base64 32)',
    ]);
    const rotated = cli(['rotate-key-secret'], { BROKER_KEY_SECRET_NEW: next });
    expect(rotated.stderr).toBe('');
    expect(rotated.status).toBe(0);
    // Two signing keys (current, next), the registry CA and its signer leaf.
    expect(rotated.stdout).toMatch(
      /^re-encrypted 4 private key\(s\) under BROKER_KEY_SECRET_NEW\. Next, on every instance: set BROKER_KEY_SECRET/,
    );

    expect(rotated.stdout).toContain(
      'Once all run the new secret, run this again with BROKER_KEY_SECRET_NEW = BROKER_KEY_SECRET',
    );

    // The old secret alone opens nothing any more; the message names the variable, never a value.
    await expect(brokerWith(secret)).rejects.toThrow('cannot be decrypted with BROKER_KEY_SECRET');

    // During the rollout an instance still on the old secret (it reads the new one as previous) seals what it
    // writes under the old one: here, the signing keys it saves.
    const old = await PostgresStore.open({
      url: db.url,
      keySecret: Buffer.from(secret, 'base64'),
      previousKeySecrets: [Buffer.from(next, 'base64')],
      dataDir: dir,
    });
    try {
      await old.saveSigningKeys(await old.signingKeys());
    } finally {
      await old.close();
    }
    await expect(brokerWith(next)).rejects.toThrow('cannot be decrypted with BROKER_KEY_SECRET');
    // The rollout's last step: the same command with the secret in force seals those under it again.
    const finished = cli(['rotate-key-secret'], {
      BROKER_KEY_SECRET: next,
      BROKER_KEY_SECRET_PREVIOUS: secret,
      BROKER_KEY_SECRET_NEW: next,
    });
    expect([finished.status, finished.stderr]).toEqual([0, '']);
    expect(finished.stdout).toMatch(
      /^re-encrypted under BROKER_KEY_SECRET the 2 private key\(s\) \(of 4\) still under an older secret/,
    );
    const again = cli(['rotate-key-secret'], { BROKER_KEY_SECRET: next, BROKER_KEY_SECRET_NEW: next });
    expect(again.stdout.trim()).toBe(
      'every private key (4) opens with BROKER_KEY_SECRET alone: remove BROKER_KEY_SECRET_PREVIOUS from every instance',
    );
    const second = await brokerWith(next);
    try {
      expect(await (await second.app.request('/.well-known/jwks.json')).json()).toEqual(jwksBefore);
      const res = await second.app.request('/auth/oidc/github-actions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: await issuer.mint(), project: 'web' }),
      });
      expect(res.status).toBe(200);
      const { token } = (await res.json()) as { token: string };
      const login = await second.app.request(
        '/v2/token?service=depot-cache&scope=repository:cache/web:pull',
        {
          headers: { authorization: `Basic ${Buffer.from(`depot:${token}`).toString('base64')}` },
        },
      );
      expect(login.status).toBe(200);
    } finally {
      await second.close();
    }
    outputs.push(...logs);
    leaksNothing(secret, next);
  });

  it('the broker refuses to start on PostgreSQL without BROKER_KEY_SECRET: one line, exit 1', () => {
    const r = spawnSync(
      tsx,
      [main, '--config', configPath, '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0'],
      {
        encoding: 'utf8',
        env: { ...process.env, CARE_DATABASE_URL: db.url, BROKER_KEY_SECRET: '' },
        timeout: 60_000,
      },
    );
    outputs.push(r.stdout, r.stderr);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      'broker: BROKER_KEY_SECRET is not set: the PostgreSQL store encrypts private keys with it (32 random bytes, base64: openssl rand -base64 32)',
    ]);
    leaksNothing(secret);
  });
});
