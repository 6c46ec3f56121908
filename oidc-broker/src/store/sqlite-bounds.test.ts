// The SQLite store's care (issue 25): audit rows past retention are purged in batches, the cap on the audit rows of
// unverified refusals, and a backup that restores the state and the key files. Runs under Node 20 (better-sqlite3)
// and Node 24 (node:sqlite): `vitest run oidc-broker/src/store/sqlite`.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AUDIT_LONG_TEXT_MAX,
  AUDIT_SCOPES_MAX,
  AUDIT_TEXT_MAX,
  boundAudit,
  boundText,
  purgeAuditBefore,
  SUPPRESSED_KIND,
  UnverifiedAudit,
} from './audit-bounds';
import { KEY_FILES, MIGRATIONS, SqliteStore } from './sqlite';
import { backupSqlite, restoreSqlite } from './sqlite-backup';
import { openSqlite } from './sqlite-driver';
import type { AuditRecord, ClaimRow, UnverifiedSlot } from './types';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'broker-bounds-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const row = (at: number, requestId: string): AuditRecord => ({
  at,
  provider: 'github-actions',
  issuer: 'gh',
  outcome: 'ok',
  requestId,
});

describe('audit retention', () => {
  it('deletes the rows older than the cut, in batches, and keeps the newer ones', async () => {
    const state = new SqliteStore({ dataDir: join(dir, 'data') });
    try {
      const now = 2_000_000_000;
      const old = Array.from({ length: 25 }, (_, i) => state.audit(row(now - 100 - i, `old-${i}`)));
      const fresh = Array.from({ length: 5 }, (_, i) => state.audit(row(now - 10 + i, `new-${i}`)));
      await Promise.all([...old, ...fresh]);
      // A batch of 10: three statements delete 10, 10 and 5.
      expect(await purgeAuditBefore(state, now - 50, 10)).toBe(25);
      const left = await state.queryAudit({});
      expect(left.map((r) => r.requestId)).toEqual(['new-0', 'new-1', 'new-2', 'new-3', 'new-4']);
      expect(await purgeAuditBefore(state, now - 50, 10)).toBe(0);
    } finally {
      await state.close();
    }
  });
});

describe('the audit rows of unverified refusals', () => {
  it('one per address a minute, the cap in all, then one aggregate row a minute with the count', async () => {
    const written: AuditRecord[] = [];
    let now = Date.UTC(2026, 0, 1, 10, 0, 5);
    const gate = new UnverifiedAudit(
      () => 3,
      (r) => void written.push(r),
      () => now,
    );
    const admitted: string[] = [];
    // Whether the gate audits this refusal (with no shared count it decides at once).
    const admit = (client: string, code: string): boolean => {
      let audited = false;
      gate.offer(client, code, now, () => (audited = true));
      return audited;
    };
    // Minute 1: 5 addresses, 4 tries each: the first try of the first 3 addresses is audited, 17 are counted.
    for (let t = 0; t < 4; t++)
      for (let a = 1; a <= 5; a++) if (admit(`127.0.0.${a}`, 'malformed_token')) admitted.push(`${a}`);
    expect(admitted).toEqual(['1', '2', '3']);
    expect(written).toEqual([]);
    // The next minute: its first refusal writes the aggregate of the last one, and an address is audited again.
    now += 60_000;
    expect(admit('127.0.0.1', 'bad_signature')).toBe(true);
    expect(written).toEqual([
      expect.objectContaining({
        kind: SUPPRESSED_KIND,
        at: Date.UTC(2026, 0, 1, 10, 0, 0) / 1000,
        suppressed: 17,
        message: expect.stringContaining('malformed_token 17'),
      }),
    ]);
    expect(admit('127.0.0.1', 'bad_signature')).toBe(false);
    await gate.flush();
    expect(written[1]).toMatchObject({ kind: SUPPRESSED_KIND, suppressed: 1 });
    await gate.flush();
    expect(written).toHaveLength(2);
    // An IPv6 client counts by its /64: another address of an audited /64 is not audited again this minute.
    now += 60_000;
    expect(admit('2001:db8:1:2::a', 'malformed_token')).toBe(true);
    expect(admit('2001:db8:1:2::b', 'malformed_token')).toBe(false);
    expect(admit('2001:db8:1:3::a', 'malformed_token')).toBe(true);
    await gate.flush();
    expect(written[2]).toMatchObject({ kind: SUPPRESSED_KIND, suppressed: 1 });
    // Requests without an address (in-process) are capped in all only.
    expect([1, 2, 3, 4].map(() => admit('in-process', 'malformed_token'))).toEqual([true, true, true, false]);
  });
});

describe('the audit rows of unverified refusals, counted with other instances (a shared count)', () => {
  it('audits what the shared count admits; stops asking once it says the minute is spent; a failure audits alone', async () => {
    const written: AuditRecord[] = [];
    let now = Date.UTC(2026, 0, 1, 10, 0, 5);
    const asked: string[] = [];
    let answer: (key: string) => Promise<UnverifiedSlot> = async (key) =>
      key === '127.0.0.2' ? 'seen' : key === '127.0.0.4' ? 'full' : 'admit';
    const errors: unknown[] = [];
    let cap = 10;
    const gate = new UnverifiedAudit(
      () => cap,
      (r) => void written.push(r),
      () => now,
      (_minute, key) => {
        asked.push(key);
        return answer(key);
      },
      (err) => errors.push(err),
    );
    const audited: string[] = [];
    const offer = (client: string) => gate.offer(client, 'malformed_token', now, () => audited.push(client));
    for (const a of [1, 2, 3, 1, 4, 5]) offer(`127.0.0.${a}`);
    // Nothing is decided before the count answers; a repeat of a client is not asked again.
    expect(audited).toEqual([]);
    await gate.drain();
    expect(asked).toEqual(['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']);
    // 5 answered `admit` though asked after `full` came for 4: asked before the answer, it stands.
    expect(audited).toEqual(['127.0.0.1', '127.0.0.3', '127.0.0.5']);
    // Spent: the minute's later refusals are counted without asking.
    offer('127.0.0.6');
    await gate.drain();
    expect(asked).toHaveLength(5);
    // Until a reload raises the cap: then the count is asked again, the same minute.
    cap = 20;
    offer('127.0.0.8');
    await gate.drain();
    expect(asked.at(-1)).toBe('127.0.0.8');
    expect(written.at(-1)).toMatchObject({
      suppressed: 1,
      message: expect.stringContaining('across the instances on this database'),
    });
    expect(written[0]).toMatchObject({ kind: SUPPRESSED_KIND, suppressed: 3 });
    // The next minute, the count failing: the refusal is audited on this instance's own count, the failure heard.
    now += 60_000;
    answer = () => Promise.reject(new Error('database down'));
    offer('127.0.0.7');
    await gate.drain();
    expect(audited.at(-1)).toBe('127.0.0.7');
    expect(errors).toHaveLength(1);
  });
});

describe('the size of an audit row', () => {
  it('cuts each text value to its bound, keeping the start and saying how many characters went', () => {
    expect(boundText('short', 256)).toBe('short');
    expect(boundText('x'.repeat(256), 256)).toBe('x'.repeat(256));
    expect(boundText('x'.repeat(56 * 1024), 256)).toBe(`${'x'.repeat(240)}\u2026(+57,104 chars)`);
    const rec = boundAudit({
      ...row(1, 'r'.repeat(300)),
      project: 'p'.repeat(5_000),
      message: 'm'.repeat(5_000),
      ref: 'refs/heads/'.padEnd(900, 'b'),
      requested: 's'.repeat(60_000),
      granted: 'g'.repeat(2_048),
      suppressed: 7,
    });
    expect(rec.requestId).toHaveLength(AUDIT_TEXT_MAX);
    expect(rec.project).toHaveLength(AUDIT_TEXT_MAX);
    expect(rec.project).toMatch(/^p+\u2026\(\+4,\d{3} chars\)$/);
    expect(rec.message).toHaveLength(AUDIT_LONG_TEXT_MAX);
    expect(rec.ref).toHaveLength(900); // a long ref is kept whole
    expect(rec.requested).toHaveLength(AUDIT_SCOPES_MAX);
    expect(rec.granted).toBe('g'.repeat(2_048));
    expect(rec.suppressed).toBe(7);
    // Idempotent: a cut value is within its bound.
    expect(boundAudit({ ...rec })).toEqual(rec);
  });

  it('multi-byte text: at most 3 bytes a character, and a surrogate pair is never split', () => {
    const euro = boundText('\u20ac'.repeat(30_000), AUDIT_TEXT_MAX);
    expect(euro).toHaveLength(AUDIT_TEXT_MAX);
    expect(Buffer.byteLength(euro)).toBeLessThanOrEqual(3 * AUDIT_TEXT_MAX);
    for (const pad of ['', 'x']) {
      const emoji = boundText(pad + '\u{1f600}'.repeat(20_000), AUDIT_TEXT_MAX);
      expect(emoji.length).toBeLessThanOrEqual(AUDIT_TEXT_MAX);
      expect(Buffer.from(emoji).toString()).toBe(emoji); // a lone surrogate would come back as U+FFFD
      expect(emoji).toMatch(/\u{1f600}\u2026\(\+[\d,]+ chars\)$/u);
    }
  });

  it('a row of 60 KB values written through the broker helper is a few KB in SQLite', async () => {
    const state = new SqliteStore({ dataDir: join(dir, 'data') });
    try {
      const huge = '\u20ac'.repeat(20_000);
      const fields = Object.fromEntries(
        ['project', 'repository', 'ref', 'workflowRef', 'message', 'requested', 'granted', 'claim'].map(
          (f) => [f, huge],
        ),
      );
      await state.audit(boundAudit({ ...row(1, 'big'), ...fields }));
      const [stored] = await state.queryAudit({ requestId: 'big' });
      expect(stored?.project).toMatch(/\u2026\(\+19,\d{3} chars\)$/);
      expect(Buffer.byteLength(JSON.stringify(stored))).toBeLessThan(
        3 * (4 * 256 + 3 * 1024 + 2 * 2048) + 1024,
      );
    } finally {
      await state.close();
    }
  });
});

describe('backup and restore', () => {
  it('restores the used jtis, the audit and the key files into an emptied data dir', async () => {
    const data = join(dir, 'data');
    const state = new SqliteStore({ dataDir: data });
    expect(await state.useJti('https://issuer.test', 'jti-1', 4102444800)).toBe(true);
    await state.audit(row(1, 'r-1'));
    for (const f of KEY_FILES) writeFileSync(join(data, f), `content of ${f}\n`, { mode: 0o600 });
    const out = join(dir, 'broker.backup');
    // Taken while the store is open and writing.
    const writing = state.useJti('https://issuer.test', 'jti-2', 4102444800);
    expect(backupSqlite(data, out).files).toEqual([...KEY_FILES]);
    await writing;
    await state.close();
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(() => backupSqlite(data, out)).toThrow(`${out} exists: backup never overwrites a file`);

    rmSync(data, { recursive: true, force: true });
    const restored = restoreSqlite(out, data);
    expect(restored.files).toEqual([...KEY_FILES]);
    for (const f of KEY_FILES) expect(readFileSync(join(data, f), 'utf8')).toBe(`content of ${f}\n`);
    const again = new SqliteStore({ dataDir: data });
    try {
      expect(await again.useJti('https://issuer.test', 'jti-1', 4102444800)).toBe(false);
      expect((await again.queryAudit({})).map((r) => r.requestId)).toEqual(['r-1']);
    } finally {
      await again.close();
    }
  });

  it('carries over what the data dir recorded since the backup: a restore makes no used jti, revoked token or redeemed claim good again', async () => {
    const data = join(dir, 'data');
    const state = new SqliteStore({ dataDir: data });
    const claim = (id: string): ClaimRow => ({
      idSha256: id.padEnd(64, '0'),
      challenge: `challenge-${id}`,
      repository: 'acme/web',
      runId: 1,
      runAttempt: 1,
      pullRequest: 7,
      project: 'web',
      rule: 'web-main',
      createdAt: Date.now(),
      expiresAt: Date.now() + 600_000,
    });
    const issuer = 'https://issuer.test';
    expect(await state.useJti(issuer, 'before', 4102444800)).toBe(true);
    await state.createClaim(claim('a'));
    await state.audit(row(1, 'before'));
    const out = join(dir, 'broker.backup');
    backupSqlite(data, out);
    // After the backup: a CI token spent, a project revoked, the claim redeemed and another one made.
    expect(await state.useJti(issuer, 'after', 4102444800)).toBe(true);
    expect(await state.useJti(issuer, 'long-expired', 1)).toBe(true);
    await state.revoke('project', 'web', 2_000_000_000, 1_900_000_000);
    expect(await state.useClaim(claim('a').idSha256, Date.now())).toBe(true);
    await state.createClaim(claim('b'));
    await state.audit(row(2, 'after'));
    await state.close();

    const restored = restoreSqlite(out, data);
    expect(restored.carried).toEqual({ jtis: 1, revocations: 1, claims: 2 });
    expect(restored.notCarried).toBeUndefined();
    const again = new SqliteStore({ dataDir: data });
    try {
      for (const jti of ['before', 'after']) expect(await again.useJti(issuer, jti, 4102444800)).toBe(false);
      expect(await again.revocations()).toEqual([
        { id: 1, at: 1_900_000_000, kind: 'project', value: 'web', before: 2_000_000_000 },
      ]);
      expect(await again.useClaim(claim('a').idSha256, Date.now())).toBe(false);
      expect((await again.claim(claim('b').idSha256))?.challenge).toBe('challenge-b');
      // The audit is the backup's; the rows written since stay in the kept state.
      expect((await again.queryAudit({})).map((r) => r.requestId)).toEqual(['before']);
    } finally {
      await again.close();
    }
    const kept = openSqlite(join(data, restored.keptIn ?? '', 'state.db'));
    try {
      expect(kept.prepare('SELECT request_id FROM audit ORDER BY id').all()).toEqual([
        { request_id: 'before' },
        { request_id: 'after' },
      ]);
    } finally {
      kept.close();
    }
    // The same backup restored again over the restored state: the same carried, nothing doubled.
    expect(restoreSqlite(out, data).carried).toEqual({ jtis: 1, revocations: 1, claims: 2 });
    const twice = new SqliteStore({ dataDir: data });
    expect(await twice.revocations()).toHaveLength(1);
    await twice.close();
  });

  it("refuses, unless forced, when the data dir's own state cannot be read; forced, it says nothing was carried over", async () => {
    const data = join(dir, 'data');
    const state = new SqliteStore({ dataDir: data });
    expect(await state.useJti('https://issuer.test', 'jti-1', 4102444800)).toBe(true);
    const out = join(dir, 'broker.backup');
    backupSqlite(data, out);
    await state.close();
    writeFileSync(join(data, 'state.db'), 'x'.repeat(4096)); // the damage that made a restore needed
    // Refused unless forced: the tokens spent and revoked since the backup would be good again.
    expect(() => restoreSqlite(out, data)).toThrow(
      new RegExp(
        `^the state in ${data} cannot be read \\(.*not a database.*\\), so what it recorded since the backup cannot be carried over: .* add --force, then revoke again what was revoked since \\(npm run broker -- revoke\\); nothing was changed$`,
      ),
    );
    expect(readFileSync(join(data, 'state.db'), 'utf8')).toBe('x'.repeat(4096));
    const restored = restoreSqlite(out, data, { force: true });
    expect(restored.carried).toBeUndefined();
    expect(restored.notCarried).toMatch(/not a database/);
    const again = new SqliteStore({ dataDir: data });
    expect(await again.useJti('https://issuer.test', 'jti-1', 4102444800)).toBe(false);
    await again.close();
  });

  it('carries over while another connection writes to the own state (its write lock is not needed)', async () => {
    const data = join(dir, 'data');
    const state = new SqliteStore({ dataDir: data });
    const out = join(dir, 'broker.backup');
    backupSqlite(data, out);
    expect(await state.useJti('https://issuer.test', 'after', 4102444800)).toBe(true);
    await state.close();
    const writer = openSqlite(join(data, 'state.db'));
    writer.exec('BEGIN IMMEDIATE');
    try {
      const restored = restoreSqlite(out, data);
      expect([restored.carried, restored.notCarried]).toEqual([
        { jtis: 1, revocations: 0, claims: 0 },
        undefined,
      ]);
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
    }
  });

  it('refuses a damaged backup (quick_check) and changes nothing', async () => {
    const data = join(dir, 'data');
    const state = new SqliteStore({ dataDir: data });
    await Promise.all(
      Array.from({ length: 400 }, (_, i) => state.useJti('https://issuer.test', `jti-${i}`, 4102444800)),
    );
    const out = join(dir, 'broker.backup');
    backupSqlite(data, out);
    await state.audit(row(1, 'kept'));
    await state.close();
    // One page of the used jtis' table zeroed: SQLite opens the file, the backup's own table still reads.
    const db = openSqlite(out);
    const page = Number(
      db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'spent_jti'").get()?.rootpage,
    );
    db.close();
    const fd = openSync(out, 'r+');
    writeSync(fd, Buffer.alloc(4096), 0, 4096, (page - 1) * 4096);
    closeSync(fd);
    expect(() => restoreSqlite(out, data)).toThrow(
      new RegExp(
        `^${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is damaged \\(.+\\): nothing was changed; restore another backup of this data dir$`,
      ),
    );
    const still = new SqliteStore({ dataDir: data });
    expect((await still.queryAudit({})).map((r) => r.requestId)).toEqual(['kept']);
    await still.close();
  });

  it("backs up a file of an older schema as it is: the running broker's file is not migrated under it", async () => {
    const data = join(dir, 'data');
    mkdirSync(data);
    const old = openSqlite(join(data, 'state.db'));
    for (const [v, sql] of MIGRATIONS.slice(0, 4).entries())
      old.exec(`${sql}; PRAGMA user_version = ${v + 1}`);
    old.exec('PRAGMA journal_mode = WAL');
    old
      .prepare('INSERT INTO used_jti (issuer, jti, expires_at) VALUES (?, ?, ?)')
      .run('gh', 'old-jti', 4102444800);
    const out = join(dir, 'broker.backup');
    backupSqlite(data, out);
    // The version-4 broker goes on using its file.
    old
      .prepare('INSERT INTO used_jti (issuer, jti, expires_at) VALUES (?, ?, ?)')
      .run('gh', 'later', 4102444800);
    expect(old.prepare('PRAGMA user_version').get()).toEqual({ user_version: 4 });
    old.close();
    const meta = openSqlite(out);
    expect(
      JSON.parse(
        String(meta.prepare("SELECT content FROM broker_backup WHERE name = '@meta'").get()?.content),
      ),
    ).toMatchObject({ schema: 4 });
    meta.close();
    // Restored by this broker: migrated, the used jtis kept (and the one used since carried over).
    const restored = restoreSqlite(out, data);
    expect(restored.carried?.jtis).toBe(1);
    const again = new SqliteStore({ dataDir: data });
    for (const jti of ['old-jti', 'later']) expect(await again.useJti('gh', jti, 4102444800)).toBe(false);
    await again.close();
  });

  it('refuses a file that is not a broker backup, and touches nothing', async () => {
    const data = join(dir, 'data');
    const state = new SqliteStore({ dataDir: data });
    await state.audit(row(1, 'kept'));
    await state.close();
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'not a database at all, just some text that is long enough to be read as a header\n');
    expect(() => restoreSqlite(junk, data)).toThrow(`${junk} is not a broker backup`);
    // A SQLite file, but the state itself rather than a backup of it.
    expect(() => restoreSqlite(join(data, 'state.db'), data)).toThrow('is not a broker backup');
    const still = new SqliteStore({ dataDir: data });
    expect((await still.queryAudit({})).map((r) => r.requestId)).toEqual(['kept']);
    await still.close();
    expect(existsSync(join(dir, 'missing'))).toBe(false);
    expect(() => restoreSqlite(join(dir, 'missing'), data)).toThrow('does not exist');
  });
});
