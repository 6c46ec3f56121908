// The embedded engine: one SQLite file, state.db, in the data directory (WAL), through node:sqlite or better-sqlite3
// (sqlite-driver.ts). Keys stay in the data dir's files as before (keys.json and the registry PEM files, mode 0600).
//
// Single use is durable: a used jti is committed before useJti() resolves. Writes that arrive in one turn of the
// event loop share one transaction (a group commit, with the audit rows that came along), run by a worker thread on
// its own connection (sqlite-commit-worker.ts) so the statements and the COMMIT's fsync stay off the event loop; at
// most MAX_IN_FLIGHT batches are with it at a time and the next fills meanwhile. Every waiter is answered only after
// COMMIT; a batch is never dropped: when it cannot commit (another connection holds the write lock, an I/O error)
// the worker retries it until its deadline (WRITE_DEADLINE_MS from its oldest write), then rolls back, and every
// waiter is rejected with StoreUnavailableError with nothing of it on disk; a worker that dies, or has not answered
// by the deadline, fails its batch the same way (a silent one is replaced after a grace). A batch that commits
// after its deadline has its jtis deleted again, also when its worker is cut off in (or after) its COMMIT and never
// answers: the worker marks what the batch inserted in memory shared with this thread before it commits, and the
// next worker deletes that first (never a jti the batch did not insert: a replay's stays used; and each row carries
// its batch's insert id, which the delete names, so a row another broker on the file inserted since stays too). The
// other writes (claims, revocations, purges) and the reads run on this thread's connection, where SQLite's own busy
// wait (busy_timeout) would block the event loop, so it is kept to BUSY_TIMEOUT_MS and the waiting happens between
// attempts, on timers.
//
// A jti is claimed with INSERT ... ON CONFLICT DO NOTHING inside the transaction: of two claims of one jti exactly
// one inserts, whether they come from this process or from another one on the same file.
//
// The schema is versioned (PRAGMA user_version): MIGRATIONS bring a file of any earlier version up to date.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CommitWorker } from './sqlite-commit-worker';
import type { OwedJti } from './sqlite-commit-worker';
import type { SqlDatabase, SqliteDriver, SqlStatement, SqlValue } from './sqlite-driver';
import { isBusy, openSqlite } from './sqlite-driver';
import type {
  AuditQuery,
  AuditRecord,
  CertificateAndKey,
  ClaimRow,
  Revocation,
  RevocationKind,
  RevocationSubject,
  Store,
  StoredKey,
  StoreOptions,
  StoreStats,
} from './types';
import {
  AUDIT_FIELDS,
  CLAIM_FIELDS,
  column,
  olderSchema,
  StoreUnavailableError,
  WRITE_DEADLINE_MS,
} from './types';

/** Schema versions: index i brings version i to i + 1. Never edit one that has shipped; add another. */
export const MIGRATIONS: readonly string[] = [
  // 1: used jtis and the audit trail (data dirs made before versioning have these tables and version 0).
  `CREATE TABLE IF NOT EXISTS used_jti (
     issuer TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (issuer, jti)
   ) WITHOUT ROWID;
   CREATE TABLE IF NOT EXISTS audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, provider TEXT NOT NULL, issuer TEXT NOT NULL,
     outcome TEXT NOT NULL, project TEXT, rule TEXT, field TEXT, repository TEXT, ref TEXT, event TEXT,
     run_id TEXT, jti TEXT, token_sha256 TEXT, message TEXT
   );
   CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
   CREATE INDEX IF NOT EXISTS audit_repository ON audit (repository, at);`,
  // 2: who asked and what for (request ids, client addresses, more of the source identity, registry scopes), the
  // minted token's jti, and revocations.
  `ALTER TABLE audit ADD COLUMN kind TEXT;
   ALTER TABLE audit ADD COLUMN request_id TEXT;
   ALTER TABLE audit ADD COLUMN client TEXT;
   ALTER TABLE audit ADD COLUMN sub TEXT;
   ALTER TABLE audit ADD COLUMN repository_id TEXT;
   ALTER TABLE audit ADD COLUMN sha TEXT;
   ALTER TABLE audit ADD COLUMN workflow_ref TEXT;
   ALTER TABLE audit ADD COLUMN job_workflow_ref TEXT;
   ALTER TABLE audit ADD COLUMN environment TEXT;
   ALTER TABLE audit ADD COLUMN actor TEXT;
   ALTER TABLE audit ADD COLUMN token_jti TEXT;
   ALTER TABLE audit ADD COLUMN requested TEXT;
   ALTER TABLE audit ADD COLUMN granted TEXT;
   CREATE INDEX audit_request ON audit (request_id);
   CREATE TABLE revocation (
     id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('jti', 'rule', 'project')), value TEXT NOT NULL, before INTEGER
   );`,
  // 3: fork-PR claims, keyed by the SHA-256 of the claim id (the secret that redeems one is never stored), and the
  // fork-PR source identity in the audit.
  `CREATE TABLE claim (
     id_sha256 TEXT PRIMARY KEY, challenge TEXT NOT NULL, repository TEXT NOT NULL, run_id INTEGER NOT NULL,
     run_attempt INTEGER NOT NULL, pull_request INTEGER NOT NULL, project TEXT NOT NULL, rule TEXT NOT NULL,
     client TEXT, request_id TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, checked TEXT,
     refusal TEXT, refusal_message TEXT, used_at INTEGER
   ) WITHOUT ROWID;
   CREATE INDEX claim_expires ON claim (expires_at);
   ALTER TABLE audit ADD COLUMN run_attempt TEXT;
   ALTER TABLE audit ADD COLUMN pull_request TEXT;
   ALTER TABLE audit ADD COLUMN head_repository TEXT;
   ALTER TABLE audit ADD COLUMN head_sha TEXT;
   ALTER TABLE audit ADD COLUMN workflow_path TEXT;
   ALTER TABLE audit ADD COLUMN claim TEXT;`,
  // 4: the aggregate row of unverified refusals not audited one by one (audit-bounds.ts) counts them.
  `ALTER TABLE audit ADD COLUMN suppressed INTEGER;`,
  // 5: which batch inserted a used jti, so that undoing a use answered as failed deletes that batch's row only: a
  // batch that never landed must not delete the same jti inserted since by another broker on the file (and answered
  // 200 there). Rows from before get insert id 0, which no batch has: no undo is owed for them. A new table, not a
  // new column: a broker of an earlier version still running on the file (a rolling upgrade) would insert rows
  // without an insert id and undo by issuer and jti alone, so every statement of its on used jtis fails ("no such
  // table": its uses fail with 503, nothing minted; its undo deletes nothing) until it is upgraded too.
  `CREATE TABLE spent_jti (
     issuer TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL, insert_id INTEGER NOT NULL,
     PRIMARY KEY (issuer, jti)
   ) WITHOUT ROWID;
   INSERT INTO spent_jti (issuer, jti, expires_at, insert_id) SELECT issuer, jti, expires_at, 0 FROM used_jti;
   DROP TABLE used_jti;`,
  // 6: the used jtis keyed by expiry first. A CI token's jti is random, so under (issuer, jti) every use wrote a page
  // of its own somewhere in the table (each to the WAL, and again at the checkpoint), and the minute's purge read the
  // whole table to find what had expired. Tokens used together expire together: under (expires_at, issuer, jti) a
  // batch's uses land on a few neighbouring pages, and what has expired is the table's start. Single use is
  // unchanged: expires_at is the token's own exp plus the constant CLOCK_SKEW (exp is a required claim), so a replay of
  // a token meets its first use's row; another token with the same jti and another exp would be a second token, which
  // an issuer never issues (a jti names one token). Same columns and name: a broker of version 5 still on the file
  // (several may share a data dir) stays correct, its inserts meeting the same key, but its undo and its purge find
  // their rows by a scan (its purge's range took 50 ms at 400,000 used jtis, 0.1 ms here): upgrade it soon. The copy
  // runs once, at the first start of this version (1.3 s for 400,000 used jtis here).
  `CREATE TABLE spent_jti_by_expiry (
     issuer TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL, insert_id INTEGER NOT NULL,
     PRIMARY KEY (expires_at, issuer, jti)
   ) WITHOUT ROWID;
   INSERT INTO spent_jti_by_expiry (issuer, jti, expires_at, insert_id)
     SELECT issuer, jti, expires_at, insert_id FROM spent_jti;
   DROP TABLE spent_jti;
   ALTER TABLE spent_jti_by_expiry RENAME TO spent_jti;`,
];
export const SCHEMA_VERSION = MIGRATIONS.length;

/** A running broker reads revocations other processes wrote at most this long after they land. */
export const REVOCATION_POLL_MS = 2_000;
/** SQLite's own wait for a lock, which blocks the event loop: a few milliseconds at most. */
export const BUSY_TIMEOUT_MS = 2;
/** Between two attempts at a locked write (on a timer: the event loop runs meanwhile). */
export const RETRY_MS = 10;
/** An audit row waits at most this long for a used jti to share its commit. */
const AUDIT_DELAY_MS = 5;
/** Expired jtis are purged this many at a time (a key range), a short write each (purgeExpired). */
export const PURGE_RANGE_ROWS = 1_000;
/**
 * The purge's statements. The expired used jtis are the table's start (its key is expiry first): where the first
 * PURGE_RANGE_ROWS of them end, then every row up to that key (all expired: none sorts before it with a later
 * expiry), bounded by the key so that a range reads only its own rows; the last, short range by expiry alone.
 */
export const PURGE_JTI = {
  rangeEnd:
    'SELECT expires_at, issuer, jti FROM spent_jti WHERE expires_at < ? ORDER BY expires_at, issuer, jti LIMIT 1 OFFSET ?',
  range: 'DELETE FROM spent_jti WHERE (expires_at, issuer, jti) <= (?, ?, ?)',
  rest: 'DELETE FROM spent_jti WHERE expires_at < ?',
} as const;
/** Between two ranges: the commit worker, whose waits for the write lock nap RETRY_MS, gets the lock meanwhile. */
const PURGE_PAUSE_MS = 20;
/** How long ready() waits for the write lock. */
const READY_DEADLINE_MS = 500;
/** While opening (WAL switch, migrations), before anything is served: waiting may block. */
const OPEN_BUSY_TIMEOUT_MS = 5_000;

/**
 * `synchronous` in WAL mode. FULL: the WAL is fsynced at every commit, so a committed jti survives a power loss too,
 * not only a crash of the process (NORMAL); with group commit one fsync serves every exchange of a batch.
 */
export const SYNCHRONOUS = 'FULL';

/** A batch's use of a jti, with the batch's insert id (the commit worker's). */
export const INSERT_JTI =
  'INSERT INTO spent_jti (issuer, jti, expires_at, insert_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING';
/** Positional: a row crosses to the commit worker as an array in AUDIT_FIELDS order (cheaper to clone and to bind than
 * an object of named values). */
const INSERT_AUDIT = `INSERT INTO audit (${AUDIT_FIELDS.map(column).join(', ')}) VALUES (${AUDIT_FIELDS.map(() => '?').join(', ')})`;

/** The audit columns as AuditRecord's fields, for a SELECT (queryAudit, auditPages). */
const AUDIT_SELECT = AUDIT_FIELDS.map((f) => `${column(f)} AS ${f}`).join(', ');
/** The claim columns as ClaimRow's fields (claim, claims). */
const CLAIM_SELECT = CLAIM_FIELDS.map((f) => `${column(f)} AS ${f}`).join(', ');
export const STATE_FILE = 'state.db';
export const KEYS_FILE = 'keys.json';
export const CA_CERT_FILE = 'registry-ca.pem';
export const CA_KEY_FILE = 'registry-ca-key.pem';
/**
 * A SQLite data dir's own CA certificate, set aside when a PostgreSQL broker whose database holds another CA wrote that
 * one to registry-ca.pem (keys.ts): registry-ca-key.pem stays, and this is the certificate that pairs with it.
 */
export const CA_CERT_SET_ASIDE = 'registry-ca.sqlite.pem';
const SIGNER_CERT_FILE = 'registry-signer.pem';
const SIGNER_KEY_FILE = 'registry-signer-key.pem';
/** The data dir's key files (DataDirKeys): with state.db, everything a backup must hold. */
export const KEY_FILES = [KEYS_FILE, CA_CERT_FILE, CA_KEY_FILE, SIGNER_CERT_FILE, SIGNER_KEY_FILE] as const;

/**
 * Batches handed to the commit worker at once: while it commits one, the next waits in its queue, so it starts as
 * soon as the first is on disk instead of after the answer's round trip through this thread's event loop (which,
 * under load, is busy with requests: the worker sat idle two thirds of the time with one batch at a time).
 */
const MAX_IN_FLIGHT = 2;

/** How long past a batch's deadline the commit worker may take to answer before it is replaced. */
const WORKER_GRACE_MS = 1_000;

/** The undo of a use answered as failed: the row only if that use's batch inserted it. */
export const DELETE_JTI =
  'DELETE FROM spent_jti WHERE issuer = ? AND jti = ? AND expires_at = ? AND insert_id = ?';

interface Pending {
  jti?: [issuer: string, jti: string, expiresAt: number];
  audit?: SqlValue[];
  /** Date.now() when it was queued: a batch's deadline runs from its oldest write. */
  at: number;
  resolve(won: boolean): void;
  reject(err: unknown): void;
}

export interface SqliteStoreOptions extends StoreOptions {
  /** Default: node:sqlite where this Node has it, better-sqlite3 otherwise. */
  driver?: SqliteDriver;
  /** A hold on the data dir (a broker command's, data-dir-lock.ts) that close() releases once the file is closed. */
  heldUntilClosed?: { release(): void };
}

export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly driver: SqliteDriver;
  readonly dataDir: string;
  private readonly db: SqlDatabase;
  private readonly files: DataDirKeys;
  private readonly deadlineMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly held: { release(): void } | undefined;
  private readonly stmt: Record<
    | 'purgeJtiRangeEnd'
    | 'purgeJtiRange'
    | 'purgeJtiRest'
    | 'purgeAudit'
    | 'insertRevocation'
    | 'selectRevocations'
    | 'insertClaim'
    | 'selectClaim'
    | 'checkClaim'
    | 'refuseClaim'
    | 'spendClaim'
    | 'purgeClaim',
    SqlStatement
  >;
  /** Writes waiting for the next group commit. */
  private queue: Pending[] = [];
  /** The group commit's worker (sqlite-commit-worker.ts); one batch in flight at a time. */
  private readonly commits: CommitWorker;
  private scheduled: NodeJS.Immediate | undefined;
  /** An audit-only queue waits this timer for a jti to share its commit with. */
  private lazy: NodeJS.Timeout | undefined;
  /**
   * Unsettled claims of a jti, by `issuer\njti` (a second claim of one waits for the first's outcome): those of the
   * batch being gathered, and one map per batch in flight, each dropped whole once its batch is answered. Not one
   * long-lived map with an entry added and deleted per exchange: V8 rehashes a Map's table as entries come and go,
   * and the table of a Map in the old generation is rehashed into the old generation, so every exchange left garbage
   * there and brought the next mark-compact nearer (ARCHITECTURE.md, "Old-generation garbage from Maps and Sets").
   */
  private gathering = new Map<string, Promise<boolean>>();
  /** One per batch sent to the commit worker and not answered yet (at most MAX_IN_FLIGHT): its claims. */
  private committing: Map<string, Promise<boolean>>[] = [];
  /** How many writes are not settled yet (a count, for the same reason), so close() and queryAudit() can wait. */
  private unsettled = 0;
  private onSettled: (() => void)[] = [];
  private revoked: Revocation[] = [];
  private revokedUpTo = 0;
  private revocationsReadAt = 0;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(opts: SqliteStoreOptions) {
    this.dataDir = opts.dataDir;
    this.files = new DataDirKeys(opts.dataDir);
    this.deadlineMs = Math.min(opts.writeDeadlineMs ?? WRITE_DEADLINE_MS, WRITE_DEADLINE_MS);
    this.onError = opts.onError ?? (() => undefined);
    this.held = opts.heldUntilClosed;
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const file = join(opts.dataDir, STATE_FILE);
    try {
      this.db = openSqlite(file, opts.driver);
    } catch (err: unknown) {
      throw openFailed(file, err);
    }
    this.driver = this.db.driver;
    // The audit trail is the data dir's own, whatever the umask: SQLite creates the file 0644 less the umask, and
    // its -wal and -shm take the file's mode. (A file of another owner, opened through group rights, stays as it is.)
    for (const f of [file, `${file}-wal`, `${file}-shm`])
      try {
        chmodSync(f, 0o600);
      } catch {
        // missing, or not ours to change
      }
    const p = (sql: string) => this.db.prepare(sql);
    try {
      this.db.exec(`PRAGMA busy_timeout = ${OPEN_BUSY_TIMEOUT_MS}`);
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec(`PRAGMA synchronous = ${SYNCHRONOUS}`);
      migrate(this.db, opts.upgrade !== false);
      this.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      this.stmt = this.statements(p);
    } catch (err: unknown) {
      this.db.close();
      throw openFailed(file, err);
    }
    this.commits = new CommitWorker({
      file: join(opts.dataDir, STATE_FILE),
      driver: this.driver,
      synchronous: SYNCHRONOUS,
      busyTimeoutMs: BUSY_TIMEOUT_MS,
      retryMs: RETRY_MS,
      deadlineMs: this.deadlineMs,
      graceMs: WORKER_GRACE_MS,
      insertJti: INSERT_JTI,
      insertAudit: INSERT_AUDIT,
      deleteJti: DELETE_JTI,
      onError: (err) => this.onError(err),
    });
  }

  /** The statements the store runs on its own connection (prepared once, while opening). */
  private statements(p: (sql: string) => SqlStatement): SqliteStore['stmt'] {
    return {
      purgeJtiRangeEnd: p(PURGE_JTI.rangeEnd),
      purgeJtiRange: p(PURGE_JTI.range),
      purgeJtiRest: p(PURGE_JTI.rest),
      // Oldest first by the `at` index; a batch at a time, so no write holds the lock long.
      purgeAudit: p('DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? LIMIT ?)'),
      insertRevocation: p(
        'INSERT INTO revocation (at, kind, value, before) VALUES (?, ?, ?, ?) RETURNING id',
      ),
      selectRevocations: p('SELECT id, at, kind, value, before FROM revocation WHERE id > ? ORDER BY id'),
      insertClaim: p(
        `INSERT INTO claim (${CLAIM_FIELDS.map(column).join(', ')}) VALUES (${CLAIM_FIELDS.map((f) => `@${f}`).join(', ')})`,
      ),
      selectClaim: p(`SELECT ${CLAIM_SELECT} FROM claim WHERE id_sha256 = ?`),
      checkClaim: p(
        'UPDATE claim SET checked = ? WHERE id_sha256 = ? AND refusal IS NULL AND used_at IS NULL',
      ),
      refuseClaim: p(
        'UPDATE claim SET refusal = ?, refusal_message = ? WHERE id_sha256 = ? AND refusal IS NULL AND used_at IS NULL',
      ),
      spendClaim: p(
        'UPDATE claim SET used_at = ? WHERE id_sha256 = ? AND refusal IS NULL AND used_at IS NULL AND expires_at > ?',
      ),
      purgeClaim: p('DELETE FROM claim WHERE expires_at < ?'),
    };
  }

  /** The commit worker (tests: crash it, count restarts). */
  get commitWorker(): CommitWorker {
    return this.commits;
  }

  version(): Promise<number> {
    return Promise.resolve(userVersion(this.db));
  }

  /** The write lock can be taken (nothing else holds it past READY_DEADLINE_MS) and the schema read. */
  async ready(): Promise<void> {
    this.open();
    await this.retry(
      () => {
        this.db.exec('BEGIN IMMEDIATE');
        try {
          this.db.prepare('SELECT count(*) AS n FROM sqlite_master').get();
        } finally {
          rollback(this.db);
        }
      },
      Date.now() + READY_DEADLINE_MS,
      'answer',
    );
  }

  useJti(issuer: string, jti: string, expiresAt: number): Promise<boolean> {
    const key = `${issuer}\n${jti}`;
    const first = this.gathering.get(key) ?? this.committing.find((claims) => claims.has(key))?.get(key);
    // The same jti twice at once: the second is a replay once the first commits (and fails when the first does).
    if (first) return first.then(() => false);
    const done = this.enqueue({ jti: [issuer, jti, expiresAt] }, true);
    this.gathering.set(key, done);
    return done;
  }

  /**
   * PURGE_RANGE_ROWS expired used jtis at a time, each a short write of its own, with a pause between: the table is
   * keyed by expiry first (migration 6), so what has expired is its start, and a purge reads only what it deletes
   * (nothing expired: one probe). Before, under (issuer, jti), each minute's purge read the whole table in ranges
   * (0.4 ms a range of 1,000 with nothing to delete, at most 8 with half of it expired; one DELETE over all of it
   * held the event loop 146 ms at 400,000 jtis).
   */
  async purgeExpired(nowSeconds: number, skew: number): Promise<number> {
    const before = nowSeconds - skew;
    let total = 0;
    for (;;) {
      const { deleted, more } = await this.write(() => {
        const end = this.stmt.purgeJtiRangeEnd.get(before, PURGE_RANGE_ROWS - 1);
        if (!end) return { deleted: Number(this.stmt.purgeJtiRest.run(before).changes), more: false };
        const range = this.stmt.purgeJtiRange.run(...([end.expires_at, end.issuer, end.jti] as SqlValue[]));
        return { deleted: Number(range.changes), more: true };
      });
      total += deleted;
      if (!more) return total;
      await new Promise((resolve) => setTimeout(resolve, PURGE_PAUSE_MS));
      if (this.closed) return total; // the broker stopped meanwhile: the next start's purge goes on
    }
  }

  audit(rec: AuditRecord): Promise<void> {
    const row: SqlValue[] = new Array<SqlValue>(AUDIT_FIELDS.length);
    for (let i = 0; i < AUDIT_FIELDS.length; i++) row[i] = rec[AUDIT_FIELDS[i] as keyof AuditRecord] ?? null;
    return this.enqueue({ audit: row }).then(() => undefined);
  }

  async queryAudit(q: AuditQuery): Promise<AuditRecord[]> {
    await this.settle();
    const where: string[] = [];
    const args: SqlValue[] = [];
    if (q.since !== undefined) {
      where.push('at >= ?');
      args.push(q.since);
    }
    if (q.repository !== undefined) {
      where.push('lower(repository) = lower(?)');
      args.push(q.repository);
    }
    if (q.requestId !== undefined) {
      where.push('request_id = ?');
      args.push(q.requestId);
    }
    const sql = `SELECT ${AUDIT_SELECT} FROM audit
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    args.push(q.limit ?? 10_000);
    const rows = await this.read(() => this.db.prepare(sql).all(...args));
    return rows.map((r) => withoutNulls(r) as unknown as AuditRecord);
  }

  async purgeAudit(before: number, limit: number): Promise<number> {
    return this.write(() => this.stmt.purgeAudit.run(before, limit).changes);
  }

  async revoke(
    kind: RevocationKind,
    value: string,
    before: number | undefined,
    at = Math.floor(Date.now() / 1000),
  ): Promise<Revocation> {
    const row = await this.write(
      () => this.stmt.insertRevocation.get(at, kind, value, before ?? null) as { id: number },
    );
    const r: Revocation = { id: Number(row.id), at, kind, value };
    if (before !== undefined) r.before = before;
    return r;
  }

  /** The used jtis whose tokens have not expired by `nowSeconds` (a move to PostgreSQL carries them: store/adopt.ts). */
  unexpiredJtis(nowSeconds: number): [issuer: string, jti: string, expiresAt: number][] {
    const rows = this.db
      .prepare('SELECT issuer, jti, expires_at FROM spent_jti WHERE expires_at >= ? ORDER BY expires_at')
      .all(nowSeconds) as unknown as { issuer: string; jti: string; expires_at: number }[];
    return rows.map((r) => [r.issuer, r.jti, Number(r.expires_at)]);
  }

  /** Every fork-PR claim not yet purged (a move to PostgreSQL carries them: store/adopt.ts). */
  claims(): ClaimRow[] {
    return this.db
      .prepare(`SELECT ${CLAIM_SELECT} FROM claim ORDER BY created_at`)
      .all()
      .map((r) => withoutNulls(r) as unknown as ClaimRow);
  }

  /** The audit trail oldest first, `size` rows a page (a move to PostgreSQL carries it: store/adopt.ts). */
  *auditPages(size: number): Generator<AuditRecord[]> {
    const page = this.db.prepare(`SELECT id, ${AUDIT_SELECT} FROM audit WHERE id > ? ORDER BY id LIMIT ?`);
    for (let after = 0; ;) {
      const rows = page.all(after, size);
      if (rows.length === 0) return;
      after = Number(rows[rows.length - 1]?.id);
      yield rows.map(({ id: _id, ...r }) => withoutNulls(r) as unknown as AuditRecord);
    }
  }

  revocations(): Promise<Revocation[]> {
    return this.read(() => this.readRevocations(0));
  }

  async isRevoked(t: RevocationSubject, nowMs = Date.now()): Promise<Revocation | undefined> {
    if (nowMs - this.revocationsReadAt >= REVOCATION_POLL_MS) {
      const fresh = await this.read(() => this.readRevocations(this.revokedUpTo));
      for (const r of fresh) if (r.id > this.revokedUpTo) this.revoked.push(r);
      this.revokedUpTo = this.revoked.at(-1)?.id ?? this.revokedUpTo;
      this.revocationsReadAt = nowMs;
    }
    return this.revoked.find(
      (r) =>
        (r.before === undefined || t.issuedAt < r.before) &&
        ((r.kind === 'jti' && r.value === t.jti) ||
          (r.kind === 'rule' && r.value === t.rule) ||
          (r.kind === 'project' && r.value === t.project)),
    );
  }

  async createClaim(row: ClaimRow): Promise<void> {
    const values: Record<string, SqlValue> = {};
    for (const f of CLAIM_FIELDS) values[f] = row[f] ?? null;
    await this.write(() => this.stmt.insertClaim.run(values));
  }

  async claim(idSha256: string): Promise<ClaimRow | undefined> {
    const row = await this.read(() => this.stmt.selectClaim.get(idSha256));
    return row ? (withoutNulls(row) as unknown as ClaimRow) : undefined;
  }

  async claimChecked(idSha256: string, checked: string): Promise<void> {
    await this.write(() => this.stmt.checkClaim.run(checked, idSha256));
  }

  async refuseClaimWith(idSha256: string, code: string, message: string): Promise<void> {
    await this.write(() => this.stmt.refuseClaim.run(code, message, idSha256));
  }

  async useClaim(idSha256: string, nowMs: number): Promise<boolean> {
    return this.write(() => this.stmt.spendClaim.run(nowMs, idSha256, nowMs).changes === 1);
  }

  async purgeClaims(beforeMs: number): Promise<number> {
    return this.write(() => this.stmt.purgeClaim.run(beforeMs).changes);
  }

  // Keys: the data dir's files, as every earlier version kept them.
  signingKeys(): Promise<StoredKey[]> {
    return this.files.signingKeys();
  }

  saveSigningKeys(keys: StoredKey[]): Promise<void> {
    return this.files.saveSigningKeys(keys);
  }

  registryCa(): Promise<CertificateAndKey | undefined> {
    return this.files.registryCa();
  }

  initRegistryCa(ca: CertificateAndKey): Promise<CertificateAndKey> {
    return this.files.initRegistryCa(ca);
  }

  registrySigner(): Promise<CertificateAndKey | undefined> {
    return this.files.registrySigner();
  }

  saveRegistrySigner(leaf: CertificateAndKey): Promise<void> {
    return this.files.saveRegistrySigner(leaf);
  }

  /** Revocations are polled by isRevoked(); keys change in another process only by `rotate-keys`, which signals. */
  onChange(): () => void {
    return () => undefined;
  }

  /** The commit worker's owed jtis; an audit row is never dropped here (a batch that cannot commit fails whole). */
  stats(): StoreStats {
    return { owedJtis: this.commits.owing, auditRowsDropped: 0 };
  }

  /** Once: a second call (a drain and a signal at once) waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    try {
      await this.settle();
      this.closed = true;
      clearImmediate(this.scheduled);
      clearTimeout(this.lazy);
      await this.commits.close();
      this.deleteOwed(this.commits.takeOwed());
      this.db.close();
    } finally {
      this.held?.release();
    }
  }

  /**
   * At close: used jtis whose uses were failed that the commit worker did not delete again before it was gone (cut
   * off while closing, stuck in a write) are deleted on this connection, which may wait for the lock up to the write
   * deadline now (nothing else is served). Not deleted, a jti stays used until it expires: a replay of its token is
   * refused, and nothing was minted for it.
   */
  private deleteOwed(owed: OwedJti[]): void {
    if (owed.length === 0) return;
    try {
      this.db.exec(`PRAGMA busy_timeout = ${this.deadlineMs}`);
      const del = this.db.prepare(DELETE_JTI);
      this.db.exec('BEGIN IMMEDIATE');
      try {
        for (const j of owed) del.run(...j);
        this.db.exec('COMMIT');
      } catch (err: unknown) {
        rollback(this.db);
        throw err;
      }
    } catch (err: unknown) {
      const why = err instanceof Error ? err.message : String(err);
      this.onError(
        new Error(
          `${owed.length} used jti(s) whose uses failed could not be deleted again at close: until they expire, a replay of those tokens is refused (nothing was minted for them): ${why}`,
        ),
      );
    }
  }

  private readRevocations(after: number): Revocation[] {
    return (
      this.stmt.selectRevocations.all(after) as unknown as Array<Revocation & { before: number | null }>
    ).map((r) => {
      const out: Revocation = { id: Number(r.id), at: r.at, kind: r.kind, value: r.value };
      if (r.before !== null) out.before = r.before;
      return out;
    });
  }

  private open(): void {
    if (this.closed) throw new StoreUnavailableError('the broker state is closed');
  }

  /**
   * Joins the next group commit; resolves once it is committed (a jti: true when this use inserted it). An urgent
   * write (a jti: an answer waits for it) is committed at the end of this turn of the event loop, or as soon as the
   * batch in flight is answered; another waits up to AUDIT_DELAY_MS for one to ride along.
   */
  private enqueue(item: Pick<Pending, 'jti' | 'audit'>, urgent = false): Promise<boolean> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the broker state is closed'));
    const done = new Promise<boolean>((resolve, reject) =>
      this.queue.push({ ...item, at: Date.now(), resolve, reject }),
    );
    this.track(done);
    if (urgent) this.scheduled ??= setImmediate(() => this.commitQueue());
    else this.lazy ??= setTimeout(() => this.commitQueue(), AUDIT_DELAY_MS);
    return done;
  }

  /**
   * One transaction for everything queued, in the commit worker, which retries a locked file until the deadline
   * (from the batch's oldest write) and rolls back when it gives up. At most MAX_IN_FLIGHT batches in flight (one
   * while commits are slow: CommitWorker.slow); the next fills meanwhile.
   */
  private commitQueue(): void {
    clearImmediate(this.scheduled);
    clearTimeout(this.lazy);
    this.scheduled = undefined;
    this.lazy = undefined;
    if (this.committing.length >= (this.commits.slow ? 1 : MAX_IN_FLIGHT)) return;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const claims = this.gathering;
    this.gathering = new Map();
    const deadline = Math.min(...batch.map((w) => w.at)) + this.deadlineMs;
    const late = () =>
      new StoreUnavailableError(
        `the broker state (${join(this.dataDir, STATE_FILE)}) did not commit within ${this.deadlineMs} ms`,
        1,
      );
    if (Date.now() >= deadline) {
      batch.forEach((w) => w.reject(late()));
      return;
    }
    const jtis: [string, string, number][] = [];
    const audits: SqlValue[][] = [];
    const rows: Pending[] = [];
    for (const w of batch) {
      if (w.jti) jtis.push(w.jti);
      else rows.push(w);
      if (w.audit) audits.push(w.audit);
    }
    this.committing.push(claims);
    const { won, written } = this.commits.commit({ jtis, audits, deadline });
    // An audit row waits for the batch to be on disk (also when it commits after its deadline); a use for its answer
    // by the deadline.
    if (rows.length > 0)
      written.then(
        () => rows.forEach((w) => w.resolve(true)),
        (err: unknown) => rows.forEach((w) => w.reject(err)),
      );
    // Its claims are dropped before their uses settle, as each claim was when it settled.
    const answered = () => (this.committing = this.committing.filter((c) => c !== claims));
    won
      .then(
        (inserted) => {
          answered();
          let k = 0;
          for (const w of batch) if (w.jti) w.resolve(inserted[k++] === true);
        },
        (err: unknown) => {
          answered();
          for (const w of batch) if (w.jti) w.reject(err);
        },
      )
      .finally(() => {
        if (this.queue.length > 0) this.commitQueue();
      });
  }

  /** A write of its own (claims, revocations, purges), committed before it resolves. */
  private write<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the broker state is closed'));
    const done = this.retry(() => this.transaction(fn), Date.now() + this.deadlineMs, 'commit');
    this.track(done);
    return done;
  }

  private read<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the broker state is closed'));
    return this.retry(fn, Date.now() + this.deadlineMs, 'answer');
  }

  private transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err: unknown) {
      rollback(this.db);
      throw err;
    }
  }

  /**
   * Runs `fn` now and, while it fails, again every RETRY_MS until `deadline`; then rejects with
   * StoreUnavailableError. A failure other than a lock is reported once to onError.
   */
  private retry<T>(fn: () => T, deadline: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let reported = false;
      const attempt = () => {
        if (this.closed) {
          reject(new StoreUnavailableError('the broker state is closed'));
          return;
        }
        try {
          resolve(fn());
          return;
        } catch (err: unknown) {
          if (!isBusy(err) && !reported) {
            reported = true;
            this.onError(err);
          }
          if (Date.now() + RETRY_MS > deadline) {
            const why = isBusy(err) ? 'the database is locked by another connection' : String(err);
            reject(
              new StoreUnavailableError(
                `the broker state (${join(this.dataDir, STATE_FILE)}) did not ${what} within ${this.deadlineMs} ms: ${why}`,
                1,
                { cause: err },
              ),
            );
            return;
          }
          setTimeout(attempt, RETRY_MS);
        }
      };
      attempt();
    });
  }

  private track(p: Promise<unknown>): void {
    this.unsettled++;
    const settled = () => {
      if (--this.unsettled === 0 && this.onSettled.length > 0)
        for (const wake of this.onSettled.splice(0)) wake();
    };
    p.then(settled, settled);
  }

  /** Waits until every write made so far has committed or failed. */
  private async settle(): Promise<void> {
    while (this.unsettled > 0) await new Promise<void>((wake) => this.onSettled.push(wake));
  }
}

/**
 * The keys as files in the data directory (keys.json and the registry PEM files, mode 0600, replaced atomically),
 * where every version of the broker kept them: the SQLite store's keys.
 */
export class DataDirKeys {
  constructor(readonly dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  }

  signingKeys(): Promise<StoredKey[]> {
    const file = join(this.dataDir, KEYS_FILE);
    if (!existsSync(file)) return Promise.resolve([]);
    return Promise.resolve((JSON.parse(readFileSync(file, 'utf8')) as { keys: StoredKey[] }).keys);
  }

  saveSigningKeys(keys: StoredKey[]): Promise<void> {
    writeAtomic(join(this.dataDir, KEYS_FILE), `${JSON.stringify({ version: 1, keys }, null, 2)}\n`);
    return Promise.resolve();
  }

  registryCa(): Promise<CertificateAndKey | undefined> {
    return Promise.resolve(this.pair(CA_CERT_FILE, CA_KEY_FILE));
  }

  initRegistryCa(ca: CertificateAndKey): Promise<CertificateAndKey> {
    const existing = this.pair(CA_CERT_FILE, CA_KEY_FILE);
    if (existing) return Promise.resolve(existing);
    writeAtomic(join(this.dataDir, CA_KEY_FILE), ca.keyPem);
    writeAtomic(join(this.dataDir, CA_CERT_FILE), ca.certPem);
    return Promise.resolve(ca);
  }

  registrySigner(): Promise<CertificateAndKey | undefined> {
    return Promise.resolve(this.pair(SIGNER_CERT_FILE, SIGNER_KEY_FILE));
  }

  saveRegistrySigner(leaf: CertificateAndKey): Promise<void> {
    // Key first: a reader that sees the new certificate always finds its key.
    writeAtomic(join(this.dataDir, SIGNER_KEY_FILE), leaf.keyPem);
    writeAtomic(join(this.dataDir, SIGNER_CERT_FILE), leaf.certPem);
    return Promise.resolve();
  }

  /** A certificate and its key; undefined when the certificate is not there; an error when they are not a pair. */
  private pair(certFile: string, keyFile: string): CertificateAndKey | undefined {
    const cert = join(this.dataDir, certFile);
    if (!existsSync(cert)) return undefined;
    const key = join(this.dataDir, keyFile);
    if (!existsSync(key)) throw new Error(missingKey(this.dataDir, certFile, keyFile));
    const pair = { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
    if (!isPair(pair)) throw new Error(notAPair(this.dataDir, certFile, keyFile));
    return pair;
  }
}

/** A certificate file of the data dir as it is, unchecked (registry-ca.pem by default); undefined when absent. */
export function readCertificate(dataDir: string, name: string = CA_CERT_FILE): string | undefined {
  const file = join(dataDir, name);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** Whether `certPem` is the certificate of the data dir's registry-ca-key.pem (false when there is none). */
export function pairsWithCaKey(dataDir: string, certPem: string): boolean {
  const key = join(dataDir, CA_KEY_FILE);
  return existsSync(key) && isPair({ certPem, keyPem: readFileSync(key, 'utf8') });
}

/** Whether the key is the certificate's (false for a file that does not parse as either). */
function isPair({ certPem, keyPem }: CertificateAndKey): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

const FROM_BACKUP = 'put both back from a backup (npm run broker -- restore)';

function missingKey(dataDir: string, certFile: string, keyFile: string): string {
  const what = `${join(dataDir, certFile)} has no ${keyFile} beside it`;
  if (certFile === CA_CERT_FILE) {
    return (
      `${what}: a PostgreSQL broker (store: postgres) keeps its registry CA's key in the database and writes only the ` +
      `certificate to its data dir. Run this broker with that store, or give a SQLite broker a data dir of its own ` +
      `(an empty one makes a new CA, which the registry's rootcertbundle must then be)`
    );
  }
  return `${what}: ${FROM_BACKUP}, or remove ${certFile} and the broker issues a new signer from its CA`;
}

function notAPair(dataDir: string, certFile: string, keyFile: string): string {
  const what = `${join(dataDir, certFile)} is not the certificate of ${keyFile}`;
  if (certFile !== CA_CERT_FILE) {
    return `${what}: ${FROM_BACKUP}, or remove both and the broker issues a new signer from its CA`;
  }
  const aside = readCertificate(dataDir, CA_CERT_SET_ASIDE);
  if (aside !== undefined && pairsWithCaKey(dataDir, aside)) {
    return (
      `${what}: a PostgreSQL broker wrote its database's CA there, and this data dir's own CA certificate is ` +
      `${CA_CERT_SET_ASIDE}. To run on SQLite under this data dir's CA, move ${CA_CERT_SET_ASIDE} back to ` +
      `${CA_CERT_FILE} (and make it the registry's rootcertbundle again); to keep the database's CA, run with store: postgres`
    );
  }
  return `${what}: ${FROM_BACKUP}`;
}

function withoutNulls(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null));
}

export function writeAtomic(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
}

export function userVersion(db: SqlDatabase): number {
  return Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
}

/** Refuses a state file of a newer broker's schema (SqliteStore, backup). */
export function refuseNewerSchema(db: SqlDatabase): void {
  const version = userVersion(db);
  if (version > MIGRATIONS.length) {
    throw new Error(
      `the broker state (schema version ${version}) was written by a newer broker than this one (version ${MIGRATIONS.length}): run the newer broker, or restore a backup`,
    );
  }
}

/**
 * Brings the file's schema to SCHEMA_VERSION, one version a transaction; refuses a file from a newer broker, and
 * with `upgrade` false (a broker command) one from an older broker (a new, empty file is set up either way).
 */
export function migrate(db: SqlDatabase, upgrade = true): void {
  refuseNewerSchema(db);
  const version = userVersion(db);
  if (!upgrade && version < MIGRATIONS.length) {
    const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get()?.n;
    if (Number(tables) > 0) throw olderSchema(version, MIGRATIONS.length);
  }
  repairInterimSchema(db); // before the later migrations, which expect version 5 as shipped
  for (let v = userVersion(db); v < MIGRATIONS.length; v++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      // Another process may have migrated meanwhile: read the version again under the lock.
      if (userVersion(db) === v) {
        db.exec(MIGRATIONS[v] ?? '');
        db.exec(`PRAGMA user_version = ${v + 1}`);
      }
      db.exec('COMMIT');
    } catch (err: unknown) {
      rollback(db);
      throw err;
    }
  }
}

/** ROLLBACK, when there is a transaction left to roll back: a COMMIT that failed (a full disk) may have ended it,
 * and the error to report is the one that got here, not "no transaction is active". */
export function rollback(db: SqlDatabase): void {
  try {
    db.exec('ROLLBACK');
  } catch {
    // nothing left to roll back
  }
}

/**
 * Development builds between two commits (8c21497, 670569e) wrote schema version 5 as a column `insert_id` on
 * `used_jti` instead of the table `spent_jti`: such a file has version 5 and no `spent_jti`. It gets migration 5 as
 * shipped (the used jtis copied with insert id 0, `used_jti` and its trigger dropped), so it opens without loss.
 */
function repairInterimSchema(db: SqlDatabase): void {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('spent_jti', 'used_jti')")
    .all()
    .map((r) => r.name);
  if (userVersion(db) !== 5 || tables.includes('spent_jti') || !tables.includes('used_jti')) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(MIGRATIONS[4] ?? '');
    db.exec('COMMIT');
  } catch (err: unknown) {
    rollback(db);
    throw err;
  }
}

/** What kind of trouble an error of SQLite's says, by its words (both drivers give SQLite's own messages). */
export function sqliteTrouble(message: string): 'locked' | 'damaged' | 'full' | 'rights' {
  if (/locked|busy/i.test(message)) return 'locked';
  if (/malformed|not a database|corrupt/i.test(message)) return 'damaged';
  if (/full|disk I\/O|I\/O error/i.test(message)) return 'full';
  return 'rights';
}

/** What to do about an error of SQLite's on the state file `file`, by what it says. */
export function sqliteAdvice(file: string, message: string): string {
  switch (sqliteTrouble(message)) {
    case 'locked':
      return `another process holds its write lock (a broker on this data dir, a sqlite3 session): stop it, then try again`;
    case 'damaged':
      return `it is damaged, or not a broker's ${STATE_FILE}: restore a backup (npm run broker -- restore --from FILE)`;
    case 'full':
      return `make room on the disk that holds ${dirname(file)}`;
    case 'rights':
      return `this user must be able to read and write it and its folder (${dirname(file)})`;
  }
}

/**
 * An error of SQLite's while opening the state (not a database, a read-only file or folder, a full disk, a lock held
 * past the wait) names the file and what to do; other errors (a newer broker's file, a driver built for another
 * Node) already say it. A migration may have been part done: each version is a transaction of its own.
 */
export function openFailed(file: string, err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  if (!(err instanceof Error) || typeof code !== 'string' || !/^(SQLITE_|ERR_SQLITE)/.test(code)) return err;
  return new Error(
    `the broker state ${file} could not be opened (${err.message}): ${sqliteAdvice(file, err.message)}`,
    { cause: err },
  );
}
