// The state file: versioned migrations from any earlier version without loss, and revocations that another process
// (`broker revoke`) writes and a running broker reads.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REVOCATION_POLL_MS, SCHEMA_VERSION, StateStore } from './state';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'broker-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A data dir as the first broker release left it: the two tables, no user_version. */
function firstReleaseFile(): void {
  const db = new Database(join(dir, 'state.db'));
  db.exec(`
    CREATE TABLE used_jti (
      issuer TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (issuer, jti)
    ) WITHOUT ROWID;
    CREATE TABLE audit (
      id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, provider TEXT NOT NULL, issuer TEXT NOT NULL,
      outcome TEXT NOT NULL, project TEXT, rule TEXT, field TEXT, repository TEXT, ref TEXT, event TEXT,
      run_id TEXT, jti TEXT, token_sha256 TEXT, message TEXT
    );
    INSERT INTO used_jti VALUES ('https://issuer.test', 'jti-old', 4102444800);
    INSERT INTO audit (at, provider, issuer, outcome, project, repository, token_sha256)
      VALUES (1700000000, 'github-actions', 'github-actions', 'ok', 'web', 'acme/web', 'abc');
  `);
  db.close();
}

describe('migrations', () => {
  it('bring a first-release data dir to the current version, keeping its jtis and audit rows', () => {
    firstReleaseFile();
    const state = new StateStore(dir);
    try {
      expect(state.version()).toBe(SCHEMA_VERSION);
      expect(state.useJti('https://issuer.test', 'jti-old', 4102444800)).toBe(false);
      expect(state.queryAudit({})).toEqual([
        {
          at: 1700000000,
          provider: 'github-actions',
          issuer: 'github-actions',
          outcome: 'ok',
          project: 'web',
          repository: 'acme/web',
          tokenSha256: 'abc',
        },
      ]);
      state.audit({
        at: 1,
        provider: 'p',
        issuer: 'i',
        outcome: 'ok',
        requestId: 'r-1',
        client: '127.0.0.2',
      });
      expect(state.queryAudit({ requestId: 'r-1' })).toEqual([
        { at: 1, provider: 'p', issuer: 'i', outcome: 'ok', requestId: 'r-1', client: '127.0.0.2' },
      ]);
    } finally {
      state.close();
    }
  });

  it('are applied once: reopening changes nothing', () => {
    new StateStore(dir).close();
    const state = new StateStore(dir);
    expect(state.version()).toBe(SCHEMA_VERSION);
    state.close();
  });

  it('refuse a file written by a newer broker, in one line', () => {
    const db = new Database(join(dir, 'state.db'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => new StateStore(dir)).toThrow(
      `the broker state (schema version ${SCHEMA_VERSION + 1}) was written by a newer broker than this one`,
    );
  });
});

describe('revocations', () => {
  const token = { jti: 'tok-1', rule: 'web-main', project: 'web', issuedAt: 1000 };

  it('by jti, rule or project; `before` spares tokens issued after it', () => {
    const state = new StateStore(dir);
    try {
      expect(state.isRevoked(token)).toBeUndefined();
      state.revoke('rule', 'web-main', 2000);
      expect(state.isRevoked(token, Date.now() + REVOCATION_POLL_MS)).toMatchObject({ kind: 'rule' });
      expect(state.isRevoked({ ...token, issuedAt: 2000 }, Date.now() + REVOCATION_POLL_MS)).toBeUndefined();
      state.revoke('jti', 'tok-2', undefined);
      expect(
        state.isRevoked({ ...token, jti: 'tok-2', issuedAt: 9999 }, Date.now() + 2 * REVOCATION_POLL_MS),
      ).toMatchObject({ kind: 'jti', value: 'tok-2' });
      state.revoke('project', 'kit', undefined);
      expect(
        state.isRevoked({ ...token, project: 'kit', issuedAt: 9999 }, Date.now() + 3 * REVOCATION_POLL_MS),
      ).toMatchObject({ kind: 'project' });
      expect(state.revocations().map((r) => `${r.kind}:${r.value}`)).toEqual([
        'rule:web-main',
        'jti:tok-2',
        'project:kit',
      ]);
    } finally {
      state.close();
    }
  });

  it('written by another process reach a running store within the poll interval, and survive a restart', () => {
    const running = new StateStore(dir);
    const cli = new StateStore(dir);
    try {
      const t0 = Date.now();
      expect(running.isRevoked(token, t0)).toBeUndefined();
      cli.revoke('jti', 'tok-1', undefined);
      expect(running.isRevoked(token, t0 + 1)).toBeUndefined(); // read at most every REVOCATION_POLL_MS
      expect(running.isRevoked(token, t0 + REVOCATION_POLL_MS)).toMatchObject({ kind: 'jti' });
    } finally {
      cli.close();
      running.close();
    }
    const restarted = new StateStore(dir);
    expect(restarted.isRevoked(token)).toMatchObject({ kind: 'jti', value: 'tok-1' });
    restarted.close();
  });
});
