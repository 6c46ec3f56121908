// The broker's state on PostgreSQL: several broker instances share one database (issue 25). node-postgres, pooled,
// no ORM; each write is committed before its promise resolves.
// - Single use: `INSERT ... ON CONFLICT DO NOTHING RETURNING` on (issuer, jti); the rows returned name the one
//   winner across every instance. Used jtis and audit rows are group-committed: the exchanges that arrive while a
//   few statements run share the next one (one commit). A write that fails or passes its deadline rejects with
//   StoreUnavailableError, and the jti stays unused: a use still queued then is taken out unsent; one already sent
//   that commits anyway (or whose reply was lost) is undone in the background by its insert's own random id, so an
//   undo never deletes another exchange's row. An undo is owed until it is done or the jti has expired: retried with
//   back-off, awaited (bounded) by close(), reported when given up; one whose use went unanswered first ends the
//   backend that ran it (unuseJti). Every pooled statement has a server-side statement_timeout a little past the
//   deadline, and the client-side reply timeouts past that: a hung statement cannot hold its slot for good. Audit
//   rows waiting are capped (the oldest dropped, counted and reported). close() is bounded, even with the network cut.
// - Migrations: versioned (broker_schema.version), applied when a store opens, under a session advisory lock, so
//   instances starting together migrate once and the others wait (said once through onError, and bounded), then see
//   the new version.
// - Changes made through any instance (revocations, signing keys, the registry signer) bump a row of broker_change
//   and NOTIFY broker_change from triggers, at commit. One dedicated client (not from the pool) LISTENs; after a
//   lost connection it reconnects with backoff, LISTENs again and reports every kind of change once (a resync, since
//   notifications sent meanwhile are lost). A poll of broker_change every few seconds is the fallback. Each LISTEN
//   connection sends itself a notification before the store counts on it: one that does not hear it (a pooler in
//   transaction mode lets LISTEN succeed and delivers nothing) makes open() refuse, or later is reported once and
//   tried again after the back-off. open() waits for the first connection's verdict at most about 11 s.
// - Private keys (signing keys, the registry CA's and signer's) are stored encrypted with AES-256-GCM under
//   BROKER_KEY_SECRET (32 bytes); each ciphertext is bound to its row (additional data), so one cannot be swapped
//   for another.
// The database URL may carry a password: no message or log line carries the URL as given (redactUrl).
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type {
  AuditQuery,
  AuditRecord,
  CertificateAndKey,
  ClaimRow,
  DataDirState,
  Revocation,
  RevocationKind,
  RevocationSubject,
  Store,
  StoreChange,
  StoreOptions,
  StoredKey,
  StoreStats,
  UnverifiedSlot,
} from './types';
import {
  AUDIT_FIELDS,
  AUDIT_NUMBER_FIELDS,
  CLAIM_FIELDS,
  column,
  olderSchema,
  StoreUnavailableError,
  WRITE_DEADLINE_MS,
} from './types';
import { errorMessage } from '../errors';

/** The env variable the config names by default (`store.postgres.url_env`). */
export const DEFAULT_URL_ENV = 'BROKER_DATABASE_URL';
/** The env variable holding the key-encryption secret: 32 random bytes, base64. */
export const KEY_SECRET_ENV = 'BROKER_KEY_SECRET';
/** Earlier key secrets still accepted for reading, comma-separated (during a rotate-key-secret rollout). */
export const PREVIOUS_KEY_SECRETS_ENV = 'BROKER_KEY_SECRET_PREVIOUS';
/** The channel the change triggers NOTIFY on. */
export const CHANGE_CHANNEL = 'broker_change';
/** How long a LISTEN connection waits for its own notification (hearsItself()), and its LISTEN for an answer. */
const LISTEN_CHECK_MS = 5_000;
/** What to do about a pooler that keeps no session (the open's refusals say it). */
const SESSION_NEEDED =
  'connect the broker to PostgreSQL directly, or through a pooler in session mode (PgBouncer: pool_mode = session): ' +
  "LISTEN, the migration's advisory lock and the named statements live in the session";
/** The fallback poll of broker_change (changes missed by LISTEN are seen this late at most). */
export const CHANGE_POLL_MS = 2_000;
/** ready(): the probe's deadline. */
export const READY_TIMEOUT_MS = 500;
/** pg_advisory_lock key of the migrations ('depotmig' in ASCII). */
const MIGRATION_LOCK = 0x6465706f746d6967n;
/** pg_advisory_xact_lock key of taking over a data dir ('depotdir' in ASCII). */
const ADOPT_LOCK = 0x6465706f74646972n;
/** Rows of key material the database holds: none before a first start, or a data dir taken over. */
const KEY_ROWS_SQL = `SELECT (SELECT count(*) FROM signing_key) + (SELECT count(*) FROM registry_ca)
  + (SELECT count(*) FROM registry_signer) AS n`;
const CHANGES: readonly StoreChange[] = ['revocations', 'keys', 'signer'];

/** The audit table's text columns as version 1 made them (columns added later come with their own migration). */
const AUDIT_TEXT_COLUMNS = AUDIT_FIELDS.filter((f) => !AUDIT_NUMBER_FIELDS.has(f)).map((f) => column(f));
const REQUIRED_AUDIT = new Set(['provider', 'issuer', 'outcome']);

/** Schema versions: index i brings version i to i + 1. Never edit one that has shipped; add another. */
export const MIGRATIONS: readonly string[] = [
  // 1: every table of the state, and the change triggers.
  `CREATE TABLE used_jti (
     issuer text NOT NULL, jti text NOT NULL, expires_at bigint NOT NULL, PRIMARY KEY (issuer, jti)
   );
   CREATE INDEX used_jti_expires ON used_jti (expires_at);
   CREATE TABLE audit (
     id bigserial PRIMARY KEY, at bigint NOT NULL,
     ${AUDIT_TEXT_COLUMNS.map((c) => `${c} text${REQUIRED_AUDIT.has(c) ? ' NOT NULL' : ''}`).join(', ')}
   );
   CREATE INDEX audit_at ON audit (at);
   CREATE INDEX audit_repository ON audit (lower(repository), at);
   CREATE INDEX audit_request ON audit (request_id);
   CREATE TABLE revocation (
     id bigserial PRIMARY KEY, at bigint NOT NULL,
     kind text NOT NULL CHECK (kind IN ('jti', 'rule', 'project')), value text NOT NULL, before bigint
   );
   CREATE TABLE claim (
     id_sha256 text PRIMARY KEY, challenge text NOT NULL, repository text NOT NULL, run_id bigint NOT NULL,
     run_attempt bigint NOT NULL, pull_request bigint NOT NULL, project text NOT NULL, rule text NOT NULL,
     client text, request_id text, created_at bigint NOT NULL, expires_at bigint NOT NULL, checked text,
     refusal text, refusal_message text, used_at bigint
   );
   CREATE INDEX claim_expires ON claim (expires_at);
   CREATE TABLE signing_key (
     kid text PRIMARY KEY, state text NOT NULL CHECK (state IN ('next', 'current', 'retired')),
     private_jwk_enc text NOT NULL, public_jwk text NOT NULL, created_at bigint NOT NULL, current_since bigint,
     publish_until bigint, position integer NOT NULL
   );
   CREATE TABLE registry_ca (
     singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), cert_pem text NOT NULL, key_pem_enc text NOT NULL,
     created_at bigint NOT NULL
   );
   CREATE TABLE registry_signer (
     singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), cert_pem text NOT NULL, key_pem_enc text NOT NULL,
     updated_at bigint NOT NULL
   );
   CREATE TABLE broker_change (what text PRIMARY KEY, serial bigint NOT NULL);
   INSERT INTO broker_change (what, serial) VALUES ('revocations', 0), ('keys', 0), ('signer', 0);
   CREATE FUNCTION broker_changed() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     UPDATE broker_change SET serial = serial + 1 WHERE what = TG_ARGV[0];
     PERFORM pg_notify('${CHANGE_CHANNEL}', TG_ARGV[0]);
     RETURN NULL;
   END $$;
   CREATE TRIGGER revocation_changed AFTER INSERT OR UPDATE OR DELETE ON revocation
     FOR EACH STATEMENT EXECUTE FUNCTION broker_changed('revocations');
   CREATE TRIGGER signing_key_changed AFTER INSERT OR UPDATE OR DELETE ON signing_key
     FOR EACH STATEMENT EXECUTE FUNCTION broker_changed('keys');
   CREATE TRIGGER registry_signer_changed AFTER INSERT OR UPDATE OR DELETE ON registry_signer
     FOR EACH STATEMENT EXECUTE FUNCTION broker_changed('signer');`,
  // 2: the aggregate row of unverified refusals not audited one by one (audit-bounds.ts) counts them.
  `ALTER TABLE audit ADD COLUMN suppressed bigint;`,
  // 3: each used jti's insert carries a random id of its own, so that undoing a use answered as failed deletes that
  // insert's row and never a later winner's (a retried undo whose first try ran but lost its reply). Rows from
  // before, or taken over from a data dir, have none: they are never undone.
  `ALTER TABLE used_jti ADD COLUMN insert_id uuid;`,
  // 4: the unverified refusals' audit cap counted once for every instance on the database (audit-bounds.ts): the
  // clients audited in a minute, and the rows the minute has taken. Kept a few minutes (purgeExpired).
  `CREATE TABLE unverified_seen (minute bigint NOT NULL, key text NOT NULL, PRIMARY KEY (minute, key));
   CREATE TABLE unverified_budget (minute bigint PRIMARY KEY, used integer NOT NULL);`,
  // 5: the count takes a batch of refusals at once (COUNT_UNVERIFIED): the budget row carries how many the last
  // statement asked for and how many it was granted.
  `ALTER TABLE unverified_budget ADD COLUMN asked integer NOT NULL DEFAULT 0,
     ADD COLUMN granted integer NOT NULL DEFAULT 0;`,
];
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface PostgresStoreOptions extends StoreOptions {
  /** The database URL (postgres://user:password@host:port/db). Never shown as given: see redactUrl. */
  url: string;
  /** BROKER_KEY_SECRET decoded: 32 bytes (parseKeySecret). */
  keySecret: Buffer;
  /**
   * Secrets that may still have sealed a stored key (BROKER_KEY_SECRET_PREVIOUS): read with, never written with. They
   * let instances on the new secret and the old one run side by side while `rotate-key-secret` re-encrypts.
   */
  previousKeySecrets?: Buffer[];
  /** Pooled connections (default 10). */
  poolSize?: number;
  /** The fallback poll of changes, milliseconds (default CHANGE_POLL_MS). */
  pollMs?: number;
  /** The first delay before the listener reconnects, milliseconds (default 250; doubles up to 5 s). */
  reconnectMs?: number;
  /** The env variable the URL came from: refusals of the URL name it (never the URL). */
  urlEnv?: string;
  /** How long open() waits for another session's migration lock, milliseconds (default 5 minutes). */
  migrationLockWaitMs?: number;
}

/** The URL with its password (and any query) replaced: what messages and logs show. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    u.search = '';
    return u.toString();
  } catch {
    return '(an unparseable database URL)';
  }
}

/**
 * Refuses a database URL that pg would choke on, before any pool exists: pg reads the URL (and its parameters) only
 * when a connection starts, and a parameter it cannot use (`?port=abc`, an unreadable sslrootcert) then throws from
 * inside pool.connect(), leaving a half-made client that keeps pool.end() from ever resolving. The URL is read here
 * as pg reads it (a pg.Client made and dropped, never connected). The messages name `source` (the env variable
 * holding the URL), never the URL or anything of it.
 */
export function checkDatabaseUrl(url: string, source?: string): void {
  const form = 'postgres://user:password@host:port/database';
  const what = source ? `${source}: the database URL` : 'the database URL';
  try {
    new URL(url);
  } catch {
    throw new Error(`${what} is not a URL (${form})`);
  }
  let port: number;
  try {
    port = new pg.Client({ connectionString: url }).port;
  } catch (err: unknown) {
    // pg's own words (a file named by an ssl parameter that cannot be read): never the URL, its password scrubbed.
    const pw = safePassword(url);
    const raw = errorMessage(err);
    throw new Error(`${what} cannot be used: ${pw ? raw.split(pw).join('***') : raw}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${what}'s port (or its ?port= parameter) is not a number from 1 to 65535`);
}

/** Reads BROKER_KEY_SECRET (base64 of 32 bytes); the message never carries the value. */
export function parseKeySecret(value: string | undefined, name = KEY_SECRET_ENV): Buffer {
  if (value === undefined || value.trim() === '')
    throw new Error(
      `${name} is not set: the PostgreSQL store encrypts private keys with it (32 random bytes, base64: openssl rand -base64 32)`,
    );
  const trimmed = value.trim();
  const bytes = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || bytes.length !== 32)
    throw new Error(`${name} must be 32 random bytes in base64 (openssl rand -base64 32)`);
  return bytes;
}

/** AES-256-GCM under the key secret, bound to `label` (the row it belongs to): v1.<iv>.<tag>.<ciphertext>. */
export function seal(secret: Buffer, label: string, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret, iv);
  cipher.setAAD(Buffer.from(label, 'utf8'));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(
    '.',
  );
}

export function unseal(secret: Buffer, label: string, sealed: string): string {
  const [v, iv, tag, body] = sealed.split('.');
  if (v !== 'v1' || iv === undefined || tag === undefined || body === undefined)
    throw new Error(`the stored ${label} is not in a known encrypted form`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', secret, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(label, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  } catch (err: unknown) {
    throw new Error(
      `the stored ${label} cannot be decrypted with ${KEY_SECRET_ENV}: is it the secret the other instances use?`,
      { cause: err },
    );
  }
}

/** Whether an error means the database could not be reached or used now (rather than a bug or bad data). */
function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  // SQLSTATE classes: 08 connection, 53 insufficient resources, 57 operator intervention (shutdown, cancel),
  // 40 transaction rollback (serialization, deadlock).
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return /^(08|53|57|40)/.test(code);
  // A socket error (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...).
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  // node-postgres's own: "Connection terminated unexpectedly", "timeout exceeded when trying to connect", ...
  const message = err instanceof Error ? err.message : '';
  return /connection|terminated|timeout|not queryable/i.test(message);
}

/** Errors of a statement that never left this process (no pooled connection could be had): it ran nowhere. */
const unsent = new WeakSet<object>();

/**
 * The server backend behind a pooled connection, as the server names it (the pg Client's processID is PgBouncer's
 * own behind a pooler): its pid and start (pg_stat_activity.backend_start as epoch text), which together name it
 * even after the pid is reused. Read once per connection by its first statements (onConnect); one object per
 * connection, shared by the undos of every use its lost statement carried (ended once for all of them).
 */
interface Backend {
  pid: number;
  started: string;
  /** The pg_terminate_backend of unuseJti, in progress or done: true once the backend is gone. */
  ending?: Promise<boolean>;
}
const IDENTIFY_BACKEND = `SELECT pid, extract(epoch FROM backend_start)::text AS started FROM pg_stat_activity
  WHERE pid = pg_backend_pid()`;
/** Each pooled connection's backend (onConnect). */
const backends = new WeakMap<object, Backend>();
/** The backend a statement went to whose error left its outcome unknown (hot()), by that error. */
const sentTo = new WeakMap<object, Backend>();

/** Whether `p` settles within `ms` (it goes on either way). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Ends a pg client's socket at once (no goodbye to the server): its queries fail, its end() resolves. */
function cut(client: pg.Client): void {
  client.connection?.stream?.destroy();
}

/**
 * Whether a failed statement may still have committed. Only a refusal from the server (an ERROR: the implicit
 * transaction rolled back, statement_timeout's cancel included) says it did not; without an answer (a reply timeout,
 * a lost connection, a FATAL that may have come after the commit) nobody knows. A statement never sent did not.
 */
function mayHaveCommitted(err: unknown): boolean {
  if (typeof err === 'object' && err !== null && unsent.has(err)) return false;
  return !(err instanceof pg.DatabaseError && err.severity === 'ERROR');
}

/**
 * Listens to a checked-out client's 'error' (its connection lost) until the returned function is called: the query in
 * flight, or the next one, fails with it; unheard, it would be thrown as an uncaught exception (pool.query listens
 * the same way; a client taken with pool.connect() has no listener while it is out).
 */
function hearLoss(client: PoolClient): () => void {
  const ignore = () => undefined;
  client.on('error', ignore);
  return () => client.off('error', ignore);
}

/**
 * The statements each pooled connection runs first (pg-pool's onConnect awaits them before the connection serves):
 * every pooled statement is cancelled by the server this long after it began (transactions of longer work raise it
 * with SET LOCAL); migrate() adds `synchronous_commit = on` where the database acknowledges commits it has not
 * flushed. SET, never startup parameters: PgBouncer refuses a startup parameter it does not track (statement_timeout
 * among them) unless told to ignore it, which would then drop the timeout without a word.
 */
function sessionSettings(deadline: number): string[] {
  return [`SET statement_timeout = ${statementTimeout(deadline)}`];
}

/** The statement_timeout for work given `ms` on the client: a little longer, so the client gives up first. */
function statementTimeout(ms: number): number {
  return Math.ceil(ms) + STATEMENT_GRACE_MS;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** A row with its NULL columns left out (the interface's optional fields). */
function withoutNulls<T>(row: QueryResultRow): T {
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)) as T;
}

/** A used jti as its row holds it (pgText, pgSeconds), with the random id its insert writes (insert_id). */
interface JtiItem {
  issuer: string;
  jti: string;
  expiresAt: number;
  insertId: string;
}

/**
 * Statements of one kind in flight at once, and rows in one (the pool has 10 connections by default). Few in flight
 * means larger batches under load: every statement is a round trip whose write hands the core to a PostgreSQL
 * backend, and on a busy machine the batch, not the statement count, is what keeps up.
 */
const JTI_IN_FLIGHT = 2;
const AUDIT_IN_FLIGHT = 1;
const GROUP_MAX = 512;
/**
 * An audit row waits up to this long for others to share its statement (the answer never waits for its audit row:
 * exchange.ts's auditLater), and goes sooner with the next used-jti statement, which takes every row waiting: under
 * load nearly all of them ride there (9 in 10 in the bench), and the rest cost one round trip every few milliseconds.
 */
export const AUDIT_DELAY_MS = 5;
/**
 * Audit rows waiting for a statement, at most (no answer waits for them, so nothing else bounds them while PostgreSQL
 * does not take them). Past it the oldest is dropped: its audit() rejects (the broker logs it with its request id)
 * and the store reports the count through onError, at most every AUDIT_DROP_REPORT_MS.
 */
export const AUDIT_QUEUE_MAX = 4 * GROUP_MAX;
const AUDIT_DROP_REPORT_MS = 10_000;
/**
 * The server-side statement_timeout of every pooled statement is the write deadline plus this: a statement waiting
 * on a row lock, or for I/O, is cancelled soon after its callers were answered (nothing of it commits), and its
 * slot and connection are free again. Longer work (purges, reading the audit trail, adopt) sets its own in its
 * transaction.
 */
const STATEMENT_GRACE_MS = 500;
/**
 * The hot statements (used jtis, audit rows, undos) also give up on the client this long after statement_timeout:
 * no answer at all (a lost connection, a commit stuck in the server) ends the connection, and the statement's
 * outcome is unknown (mayHaveCommitted).
 */
const REPLY_GRACE_MS = 1_000;
/** An owed undo that failed is tried again this long after, doubling up to UNDO_RETRY_MAX_MS (until it expires). */
const UNDO_RETRY_MS = 250;
const UNDO_RETRY_MAX_MS = 5_000;
/**
 * An undo of a use that went unanswered whose backend cannot be ended (unknown, or the server refuses): its DELETE
 * finding nothing proves nothing (the insert may still commit), so it is repeated this often, for at least
 * UNDO_UNCERTAIN_MS after the use (or longer: four reply timeouts).
 */
const UNDO_REPEAT_MS = 500;
const UNDO_UNCERTAIN_MS = 10_000;
/** close() waits this long at most for the owed undos (each tried at least once more), then gives up on the rest. */
const UNDO_CLOSE_MS = 3_000;
/** close(): each end() (the LISTEN connection's, the pool's) waits this long for the server, then the sockets go. */
const CLOSE_END_MS = 2_000;
/** TCP keepalive of every connection: a peer gone without a word (a partition) is noticed in minutes, not hours. */
const KEEPALIVE_MS = 10_000;
/** migrate(): how often the migration lock is tried, and how long another session may hold it before open() fails. */
const MIGRATION_LOCK_POLL_MS = 500;
const MIGRATION_LOCK_WAIT_MS = 5 * 60_000;
/** migrate(): the reply timeout of its small statements, and each migration's lock_timeout (a table's lock). */
const MIGRATION_STEP_MS = 10_000;
const MIGRATION_LOCK_TIMEOUT_MS = 10_000;
/** The unverified-audit counts of a minute are kept this long after it (seconds), then purged. */
const UNVERIFIED_KEEP_S = 300;
/** Expired jtis are purged this many rows a statement (purgeExpired), JTI_PURGE_PAUSE_MS apart. */
export const JTI_PURGE_BATCH = 5_000;
const JTI_PURGE_PAUSE_MS = 20;

/**
 * A value for a text column: PostgreSQL's text cannot hold U+0000, and one such string fails the whole statement,
 * so a group commit would lose every row of its batch (an audit row's `field` is a request body's unknown key, its
 * `project` a name the caller chose: anyone could send one). It becomes U+FFFD, as undecodable bytes do.
 */
function pgText<T extends string | number | undefined>(v: T): T | null {
  if (v === undefined) return null;
  return (typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v) as T;
}

/** Audit rows as the insert's arrays, one per column in AUDIT_FIELDS order. */
function auditValues(rows: AuditRecord[]): unknown[] {
  return AUDIT_FIELDS.map((f) => rows.map((r) => pgText(r[f])));
}

/** A time for a bigint column: whole seconds, within the range a JavaScript number counts exactly. A token's `exp` is
 * any JSON number the issuer wrote (jose checks only that it is one); a fraction or a number past bigint's range
 * would fail the whole jti batch. */
function pgSeconds(v: number): number {
  return Math.floor(Math.min(Math.max(v, 0), Number.MAX_SAFE_INTEGER));
}

/**
 * The two statements of every exchange, named: each pooled connection has PostgreSQL parse and plan them once, not
 * at every batch (the audit insert unnests 36 arrays; planning it cost more server CPU than running it).
 */
const INSERT_JTIS = `INSERT INTO used_jti (issuer, jti, expires_at, insert_id)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::uuid[]) ON CONFLICT DO NOTHING RETURNING issuer, jti`;
/** The undo of uses answered as failed: each row only if it is still the one that use's insert wrote. */
const DELETE_OWN_JTIS = `DELETE FROM used_jti u USING unnest($1::text[], $2::text[], $3::uuid[]) AS x (issuer, jti, insert_id)
  WHERE u.issuer = x.issuer AND u.jti = x.jti AND u.insert_id = x.insert_id RETURNING u.insert_id`;
/** The audit rows' insert, its arrays numbered from `$first`. */
const insertAudit = (first: number): string => `INSERT INTO audit (${AUDIT_FIELDS.map(column).join(', ')})
  SELECT * FROM unnest(${AUDIT_FIELDS.map((f, i) => `$${i + first}::${AUDIT_NUMBER_FIELDS.has(f) ? 'bigint' : 'text'}[]`).join(', ')})`;
const INSERT_AUDIT = insertAudit(1);
/** One fork-PR claim (createClaim, and the move from SQLite). */
const INSERT_CLAIM = `INSERT INTO claim (${CLAIM_FIELDS.map(column).join(', ')})
  VALUES (${CLAIM_FIELDS.map((_, i) => `$${i + 1}`).join(', ')})`;

function claimValues(row: ClaimRow): unknown[] {
  return CLAIM_FIELDS.map((f) => row[f] ?? null);
}
/**
 * The used jtis with the audit rows that were waiting when they went: one statement, one transaction, one commit (a
 * data-modifying WITH runs whether or not the query reads it). Under load nearly every audit row rides along, which
 * saves a third of the round trips and of PostgreSQL's commits (a statement costs the server more than its rows).
 */
const INSERT_JTIS_AND_AUDIT = `WITH audit_rows AS (${insertAudit(5)}) ${INSERT_JTIS}`;

/** A refusal of an unverified token to count (admitUnverified). */
interface UnverifiedItem {
  minute: number;
  key: string;
  cap: number;
}

/**
 * Counts the unverified refusals of one minute ($1, ms) from clients $2 (rate keys in order; '' for none) under cap
 * $3, for every instance on the database: the clients are marked seen for the minute, and the first sightings (and
 * the ones with no address) take what is left of the minute's rows, serialized on the budget row (ON CONFLICT DO
 * UPDATE locks it and reads it again; SET computes from the row as it was). The clients' rows are inserted in key
 * order, so two instances counting overlapping clients lock them in the same order (in hash order they deadlocked).
 * Answers how many were granted and which positions (from 1) were first sightings (a client's first position in $2
 * only): those are admitted in order while the grant lasts, the rest are over the cap; the others were seen already.
 * A client marked seen by a refusal over the cap stays seen: the minute is spent.
 */
const COUNT_UNVERIFIED = `WITH input AS (
    SELECT k, i::integer AS i FROM unnest($2::text[]) WITH ORDINALITY AS t (k, i)
  ), seen AS (
    INSERT INTO unverified_seen (minute, key)
    SELECT $1::bigint, k FROM (SELECT DISTINCT k FROM input WHERE k <> '') d ORDER BY k
    ON CONFLICT DO NOTHING RETURNING key
  ), fresh AS (
    SELECT min(i) AS i FROM input WHERE k IN (SELECT key FROM seen) GROUP BY k
    UNION ALL SELECT i FROM input WHERE k = ''
  ), slot AS (
    INSERT INTO unverified_budget AS b (minute, used, asked, granted)
    SELECT $1::bigint, LEAST($3::integer, n), n, LEAST($3::integer, n)
    FROM (SELECT count(*)::integer AS n FROM fresh) f WHERE n > 0
    ON CONFLICT (minute) DO UPDATE SET
      granted = LEAST(excluded.asked, GREATEST(0, $3::integer - b.used)),
      used = b.used + LEAST(excluded.asked, GREATEST(0, $3::integer - b.used)),
      asked = excluded.asked
    RETURNING granted
  )
  SELECT coalesce((SELECT granted FROM slot), 0) AS granted,
    coalesce((SELECT array_agg(i ORDER BY i) FROM fresh), '{}') AS fresh`;

/**
 * Group commit: an item waits while `maxInFlight` statements of its kind run, then goes with every item that queued
 * meanwhile in one statement (one commit). Idle, an item goes at once, alone (no timer, no added latency), unless
 * `delayMs` is set: then the first item of an idle queue waits that long for company. A caller that stops waiting
 * (its deadline passed) withdraws its item, so nothing waits here for a caller already answered; past `maxQueued`
 * items the oldest is taken out and handed to `overflow`, which settles it.
 */
/** An item waiting in a GroupCommit, with how to settle its caller. */
interface Queued<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
  /** Taken (sent, or handed to `overflow`) or withdrawn: no longer waiting. */
  out: boolean;
}

/** A caller's place in a GroupCommit. */
interface Pending<R> {
  done: Promise<R>;
  /** Takes the item out of the queue if it is still there: true when it was never sent (and now never will be). */
  withdraw(): boolean;
}

class GroupCommit<T, R> {
  /**
   * In arrival order; a withdrawn item is marked `out` and left for take() to pass over. An array replaced as it
   * empties, not a long-lived Set with an entry added and deleted per write: V8 rehashes such a Set's table into the
   * old generation, and every write would leave garbage there for a mark-compact (ARCHITECTURE.md, "Old-generation
   * garbage from Maps and Sets").
   */
  private queue: Queued<T, R>[] = [];
  /** How many items of `queue` are still waiting. */
  private queued = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly maxInFlight: number,
    private readonly maxBatch: number,
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly delayMs = 0,
    private readonly maxQueued = Infinity,
    private readonly overflow: (dropped: Queued<T, R>) => void = () => undefined,
  ) {}

  /** Items waiting for a statement (not those in flight). */
  get waiting(): number {
    return this.queued;
  }

  add(item: T): Pending<R> {
    let entry: Queued<T, R> | undefined;
    const done = new Promise<R>((resolve, reject) => {
      entry = { item, resolve, reject, out: false };
    });
    const queued = entry as Queued<T, R>;
    this.queue.push(queued);
    this.queued++;
    if (this.queued > this.maxQueued) {
      const [oldest] = this.take(1);
      if (oldest) this.overflow(oldest);
    }
    if (this.delayMs > 0 && this.inFlight === 0) {
      this.timer ??= setTimeout(() => this.pump(), this.delayMs);
    } else {
      this.pump();
    }
    return { done, withdraw: () => this.withdraw(queued) };
  }

  private withdraw(q: Queued<T, R>): boolean {
    if (q.out) return false;
    q.out = true;
    this.queued--;
    // Withdrawn items wait for take() to pass them; many of them (a database that does not answer) go at once.
    if (this.queued === 0) this.queue = [];
    else if (this.queue.length > 2 * this.queued + 64) this.queue = this.queue.filter((e) => !e.out);
    return true;
  }

  /**
   * Takes up to `max` queued items out of the queue, oldest first (never ones in flight): the caller writes them
   * with its own statement and settles each through `resolve` or `reject`, as this queue would have.
   */
  take(max: number): Queued<T, R>[] {
    const taken: Queued<T, R>[] = [];
    let i = 0;
    for (; i < this.queue.length && taken.length < max; i++) {
      const q = this.queue[i] as Queued<T, R>;
      if (q.out) continue;
      q.out = true;
      taken.push(q);
    }
    this.queued -= taken.length;
    this.queue = this.queued === 0 ? [] : this.queue.slice(i);
    if (this.queued === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return taken;
  }

  /** Sends what waits now (not after its delay) and resolves once nothing is queued or in flight. */
  async flush(): Promise<void> {
    this.pump();
    while (this.running.size > 0) {
      await Promise.allSettled([...this.running]);
      this.pump();
    }
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight < this.maxInFlight && this.queued > 0) {
      const batch = this.take(this.maxBatch);
      this.inFlight++;
      const done = this.write(batch.map((b) => b.item))
        .then(
          (results) => batch.forEach((b, i) => b.resolve(results[i] as R)),
          (err: unknown) => batch.forEach((b) => b.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.running.delete(done);
          this.pump();
        });
      this.running.add(done);
    }
  }
}

interface KeyRow {
  kid: string;
  state: StoredKey['state'];
  private_jwk_enc: string;
  public_jwk: string;
  created_at: number;
  current_since: number | null;
  publish_until: number | null;
}

export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  private readonly deadline: number;
  /** The pool's statement_timeout, and the hot statements' reply timeout (STATEMENT_GRACE_MS, REPLY_GRACE_MS). */
  private readonly statementMs: number;
  private readonly replyMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly listeners = new Set<(what: StoreChange) => void>();
  private readonly serials = new Map<StoreChange, number>();
  private listener: pg.Client | undefined;
  private listening = false;
  private reconnectDelay: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private hasConnectedBefore = false;
  /** open() is told how the first LISTEN connection ended up: listening, lost before, or deaf (the Error). */
  private firstListen: ((outcome: 'listening' | 'lost' | Error) => void) | undefined;
  /** A deaf LISTEN connection was reported (onError) and none has heard since: not reported again. */
  private deafReported = false;
  private revoked: Revocation[] = [];
  /** Bumped on every revocation change; the cache is fresh when it was read at the current generation. */
  private revocationGen = 1;
  private revocationsReadGen = 0;
  private revocationsLoading: Promise<void> | undefined;
  /** Group commits: each write waits for the next statement of its kind; one or two statements in flight at once. */
  private readonly jtis = new GroupCommit<JtiItem, boolean>(JTI_IN_FLIGHT, GROUP_MAX, (b) =>
    this.writeJtis(b),
  );
  private readonly audits = new GroupCommit<AuditRecord, void>(
    AUDIT_IN_FLIGHT,
    GROUP_MAX,
    (b) => this.writeAudits(b),
    AUDIT_DELAY_MS,
    AUDIT_QUEUE_MAX,
    (dropped) => this.dropAudit(dropped),
  );
  /** Unverified refusals to count (admitUnverified): one statement at a time, with all that queued meanwhile. */
  private readonly unverified = new GroupCommit<UnverifiedItem, UnverifiedSlot>(1, GROUP_MAX, (b) =>
    this.countUnverified(b),
  );
  /** Undos of uses answered as failed whose insert committed, or may have (unuseJti): true for a row deleted. */
  private readonly undos = new GroupCommit<JtiItem, boolean>(1, GROUP_MAX, (b) => this.deleteOwnJtis(b));
  /** Audit rows dropped past AUDIT_QUEUE_MAX, in all and as last reported. */
  private auditRowsDropped = 0;
  private auditDropsReported = 0;
  private auditDropTimer: NodeJS.Timeout | undefined;
  /** Undos owed (unuseJti), by insert id, each with its course (undo()): close() awaits them. */
  private readonly owed = new Map<string, { item: JtiItem; done: Promise<void> }>();
  /** Wakes the owed undos waiting for their next try (close() tries each once more at once). */
  private readonly undoWake = new Set<() => void>();
  /** Set once close() begins: what waits to be tried again is tried soon, within close()'s bound. */
  private undosClosing = false;
  /** The pool's connections (open()): close() cuts those its end() waits for in vain. */
  private readonly clients = new Set<pg.Client>();
  /** close(), once: every call shares it. */
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly opts: PostgresStoreOptions,
    /** Each new pooled connection's first statements (sessionSettings()); migrate() may add one. */
    private readonly settings: string[],
  ) {
    this.deadline = opts.writeDeadlineMs ?? WRITE_DEADLINE_MS;
    this.statementMs = statementTimeout(this.deadline);
    this.replyMs = this.statementMs + REPLY_GRACE_MS;
    this.onError = (err) => {
      try {
        opts.onError?.(this.clean(err));
      } catch {
        // a listener must never break the store
      }
    };
    this.reconnectDelay = opts.reconnectMs ?? 250;
  }

  /** Connects, migrates (once across instances), starts listening for changes. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    if (opts.keySecret.length !== 32) throw new Error(`${KEY_SECRET_ENV} must be 32 bytes`);
    checkDatabaseUrl(opts.url, opts.urlEnv);
    const types = new pg.TypeOverrides();
    // bigint columns hold seconds, milliseconds and ids: all well within a double's exact range.
    types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));
    const deadline = opts.writeDeadlineMs ?? WRITE_DEADLINE_MS;
    const settings = sessionSettings(deadline);
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: Math.max(deadline, 1_000),
      idleTimeoutMillis: 30_000,
      application_name: 'depot-oidc-broker',
      types,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_MS,
      // Each new connection's session settings, before it serves anything (sessionSettings()), and which backend it
      // is (IDENTIFY_BACKEND, for unuseJti), in the same round trip: once per connection, nothing per exchange.
      // Bounded like the connection itself: a connection that stalls after its login is ended (and its slot freed)
      // instead of holding a caller, and the group commit behind it, for good.
      onConnect: async (client: pg.ClientBase) => {
        const first: pg.QueryConfig & { query_timeout: number } = {
          text: [...settings, IDENTIFY_BACKEND].join('; '),
          query_timeout: Math.max(deadline, 1_000),
        };
        // Several statements answer with one result each.
        const answers = (await client.query(first)) as unknown as pg.QueryResult | pg.QueryResult[];
        const row = (Array.isArray(answers) ? answers.at(-1) : answers)?.rows[0] as
          { pid: number; started: string } | undefined;
        // Only a connection straight to the server: behind a pooler (PgBouncer; the key data the client got at
        // login, its processID, is the pooler's own) the server connection goes to the pooler's next client once
        // this one is gone, and ending it would end that client's session (another instance's LISTEN, another
        // application on the role). Such a use's undo repeats its DELETE instead (undo()).
        const direct = (client as pg.ClientBase & { processID?: number | null }).processID;
        if (row && Number(row.pid) === direct)
          backends.set(client, { pid: Number(row.pid), started: row.started });
      },
    });
    const store = new PostgresStore(pool, opts, settings);
    // An idle pooled client whose connection dies emits here; the pool replaces it. Never an unhandled error.
    pool.on('error', (err) => store.onError(err));
    // The pool's connections, so that close() can cut the ones its end() waits for in vain (endPool()).
    pool.on('connect', (client) => store.clients.add(client));
    pool.on('remove', (client) => store.clients.delete(client));
    try {
      await store.migrate();
      await store.readSerials(false);
    } catch (err: unknown) {
      await store.endPool();
      const e = store.clean(err, 'could not open the PostgreSQL store');
      // PgBouncer's statement mode refuses the migration's transaction in its own words; say what to do.
      if (/pooling mode/.test(e.message)) e.message += `: ${SESSION_NEEDED}`;
      throw e;
    }
    // Opens once the first LISTEN connection is listening and has heard itself (hearsItself()), is lost (it keeps
    // trying in the background, as after a later loss; the poll covers meanwhile), or has taken too long for either
    // (a LISTEN that waits behind a pooler's full pool): only a deaf one, a pooler keeping no session, is refused.
    let waited: NodeJS.Timeout | undefined;
    const verdict = new Promise<'listening' | 'lost' | 'slow' | Error>((resolve) => {
      store.firstListen = resolve;
      waited = setTimeout(() => resolve('slow'), 2 * LISTEN_CHECK_MS + 1_000);
    });
    store.connectListener();
    const first = await verdict;
    clearTimeout(waited);
    store.firstListen = undefined;
    if (first instanceof Error) {
      await store.close();
      first.message = `could not open the PostgreSQL store: ${first.message}`;
      throw first;
    }
    let failing = false;
    store.pollTimer = setInterval(() => {
      store.readSerials(true).then(
        () => (failing = false),
        (err: unknown) => {
          // One report per outage, not one per poll.
          if (!failing) store.onError(err);
          failing = true;
        },
      );
    }, opts.pollMs ?? CHANGE_POLL_MS);
    store.pollTimer.unref();
    return store;
  }

  // --- plumbing ---

  /** An error whose message names the database without its password. */
  private clean(err: unknown, context?: string): Error {
    const where = redactUrl(this.opts.url);
    const raw = errorMessage(err);
    const pw = safePassword(this.opts.url);
    const message = pw ? raw.split(pw).join('***') : raw;
    const text = `${context ? `${context}: ` : ''}PostgreSQL at ${where}: ${message}`;
    if (err instanceof StoreUnavailableError) return err;
    if (isUnavailable(err)) return new StoreUnavailableError(text, 1, { cause: err });
    const out = new Error(text, { cause: err });
    return out;
  }

  /** Runs `work` with at most `ms` to finish; a miss or a lost connection is StoreUnavailableError. */
  private async timed<T>(what: string, work: Promise<T>, ms = this.deadline): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`PostgreSQL did not complete ${what} within ${ms} ms`)),
        ms,
      );
    });
    try {
      return await Promise.race([work, late]);
    } catch (err: unknown) {
      throw this.clean(err, what);
    } finally {
      clearTimeout(timer);
    }
  }

  private query<R extends QueryResultRow>(
    what: string,
    sql: string,
    params: unknown[] = [],
    ms = this.deadline,
  ): Promise<pg.QueryResult<R>> {
    // Longer than a write may take (purges, the audit trail): in a transaction that raises its statement_timeout.
    if (ms > this.deadline) return this.transaction(what, (c) => c.query<R>(sql, params), ms);
    const config: pg.QueryConfig & { query_timeout: number } = {
      text: sql,
      values: params,
      query_timeout: this.replyMs,
    };
    const work = this.pool.query<R>(config);
    work.catch(() => undefined); // a query that loses the race still settles; its rejection is handled here
    return this.timed(what, work, ms);
  }

  /** One transaction on one pooled client; one given longer than a write's deadline has the statement_timeout for it. */
  private async transaction<T>(
    what: string,
    work: (c: PoolClient) => Promise<T>,
    ms = this.deadline,
  ): Promise<T> {
    const run = async (): Promise<T> => {
      const client = await this.pool.connect();
      const heard = hearLoss(client);
      let broken: unknown;
      // The transaction's reply timeout: each of its statements is cancelled by the server at statement_timeout, and
      // its caller was answered at `ms` (timed()); no answer by then and a little more means the server cannot be
      // heard (a partition): the connection is cut, so that the pool (and close()) never waits on it for good.
      const noAnswer = setTimeout(() => cut(client), statementTimeout(ms) + REPLY_GRACE_MS);
      try {
        await client.query('BEGIN');
        if (ms > this.deadline) await client.query(`SET LOCAL statement_timeout = ${statementTimeout(ms)}`);
        const out = await work(client);
        await client.query('COMMIT');
        return out;
      } catch (err: unknown) {
        broken = err;
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        clearTimeout(noAnswer);
        heard();
        client.release(broken !== undefined && isUnavailable(broken) ? (broken as Error) : undefined);
      }
    };
    const work_ = run();
    work_.catch(() => undefined);
    return this.timed(what, work_, ms);
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    const heard = hearLoss(client);
    // Its small statements have a reply timeout (a server cut off mid-open); the migrations themselves none (altering
    // a large table), but TCP keepalive.
    const step = <R extends QueryResultRow>(text: string, values: unknown[] = []) => {
      const config: pg.QueryConfig & { query_timeout: number } = {
        text,
        values,
        query_timeout: MIGRATION_STEP_MS,
      };
      return client.query<R>(config);
    };
    let broken: Error | undefined;
    try {
      // No statement_timeout here (altering a large table): this connection is closed afterwards, not returned to the
      // pool with it.
      await step('SET statement_timeout = 0');
      // Single use is durable only if a commit is flushed before it is acknowledged: a database (or server) set to
      // synchronous_commit = off would acknowledge a used jti that a server crash then loses. Every connection this
      // store opens from here on sets it back to on for its own session; a stricter setting (remote_apply) and
      // `local` (flushed on this server) are left as they are.
      const sync = await step<{ synchronous_commit: string }>('SHOW synchronous_commit');
      if (sync.rows[0]?.synchronous_commit === 'off') this.settings.push('SET synchronous_commit = on');
      await this.takeMigrationLock(step);
      try {
        await step(
          `CREATE TABLE IF NOT EXISTS broker_schema (
             singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL
           )`,
        );
        const row = await step<{ version: number }>('SELECT version FROM broker_schema');
        const version = row.rows[0]?.version ?? 0;
        if (version > MIGRATIONS.length) {
          throw new Error(
            `the broker state (schema version ${version}) was written by a newer broker than this one (version ${MIGRATIONS.length}): run the newer broker`,
          );
        }
        // Version 0 is a database with no state yet: set up either way.
        if (this.opts.upgrade === false && version > 0 && version < MIGRATIONS.length)
          throw olderSchema(version, MIGRATIONS.length);
        for (let v = version; v < MIGRATIONS.length; v++) {
          await step('BEGIN');
          try {
            // A table lock the migration cannot have soon (a long transaction on it) fails the open with a clear
            // error instead of queueing: every exchange's statement would queue behind the waiting ALTER.
            await step(`SET LOCAL lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`);
            await client.query(MIGRATIONS[v] ?? '');
            await step(
              `INSERT INTO broker_schema (singleton, version) VALUES (true, $1)
               ON CONFLICT (singleton) DO UPDATE SET version = excluded.version`,
              [v + 1],
            );
            await step('COMMIT');
          } catch (err: unknown) {
            await step('ROLLBACK').catch(() => undefined);
            if ((err as { code?: unknown } | null)?.code === '55P03')
              throw new Error(
                `migration to schema version ${v + 1} could not lock its table within ${MIGRATION_LOCK_TIMEOUT_MS / 1000} s (another session's long transaction on it?): start the broker again`,
                { cause: err },
              );
            throw err;
          }
        }
      } finally {
        await step('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => undefined);
      }
    } catch (err: unknown) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      heard();
      // Closed, never reused (its session has no statement_timeout); cut at once if it failed (no goodbye awaited).
      if (broken && isUnavailable(broken)) cut(client);
      client.release(true);
    }
  }

  /**
   * The migrations' session advisory lock, tried rather than waited for: another instance migrating is said once
   * (onError: an open that waits says why), and a lock held past migrationLockWaitMs (an instance stuck in its
   * migration, or an operator's session) fails the open with what to look at.
   */
  private async takeMigrationLock(
    step: (text: string, values?: unknown[]) => Promise<pg.QueryResult<{ got: boolean }>>,
  ): Promise<void> {
    const start = Date.now();
    const limit = this.opts.migrationLockWaitMs ?? MIGRATION_LOCK_WAIT_MS;
    let told = false;
    for (;;) {
      const r = await step('SELECT pg_try_advisory_lock($1) AS got', [MIGRATION_LOCK.toString()]);
      if (r.rows[0]?.got) return;
      if (Date.now() - start >= limit)
        throw new Error(
          `another session has held the broker's migration lock (pg_advisory_lock ${MIGRATION_LOCK}) for ${Math.round((Date.now() - start) / 1000)} s: is another broker instance stuck migrating? (pg_locks, locktype advisory)`,
        );
      if (!told) {
        told = true;
        this.onError(
          new StoreUnavailableError(
            `PostgreSQL at ${redactUrl(this.opts.url)}: waiting for another instance's migration (the migration lock is held); giving up after ${Math.round(limit / 1000)} s`,
          ),
        );
      }
      await new Promise((r) => setTimeout(r, MIGRATION_LOCK_POLL_MS));
    }
  }

  // --- changes ---

  private emit(what: StoreChange): void {
    if (what === 'revocations') this.revocationGen++;
    for (const l of this.listeners) {
      try {
        l(what);
      } catch (err: unknown) {
        this.onError(err);
      }
    }
  }

  /** Reads broker_change; with `report`, emits each kind whose serial moved since the last read. */
  private async readSerials(report: boolean): Promise<void> {
    const r = await this.query<{ what: StoreChange; serial: number }>(
      'the change poll',
      'SELECT what, serial FROM broker_change',
    );
    for (const { what, serial } of r.rows) {
      const seen = this.serials.get(what);
      this.serials.set(what, serial);
      if (report && seen !== undefined && seen !== serial) this.emit(what);
    }
  }

  /** The dedicated LISTEN connection; on loss, reconnects with backoff, and resyncs once it listens again. */
  private connectListener(): void {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.opts.url,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_MS,
      application_name: 'depot-oidc-broker-listen',
    });
    this.listener = client;
    let lost = false;
    // The notification this connection sends itself (hearsItself()): heard, or the connection lost first.
    const probe = `probe ${randomUUID()}`;
    let tell: (heard: 'heard' | 'lost') => void = () => undefined;
    const heard = new Promise<'heard' | 'lost'>((resolve) => (tell = resolve));
    const onLost = (err?: unknown) => {
      if (lost) return;
      lost = true;
      tell('lost');
      this.firstListen?.('lost');
      this.firstListen = undefined;
      const wasListening = this.listening;
      this.listening = false;
      if (err !== undefined && wasListening && !this.closed) this.onError(err);
      client.end().catch(() => undefined);
      if (this.closed) return;
      const delay = this.reconnectDelay;
      this.reconnectDelay = Math.min(delay * 2, 5_000);
      this.reconnectTimer = setTimeout(() => this.connectListener(), delay);
      this.reconnectTimer.unref();
    };
    client.on('error', (err) => onLost(err));
    client.on('end', () => onLost());
    client.on('notification', (n) => {
      if (n.channel !== CHANGE_CHANNEL) return;
      if (CHANGES.includes(n.payload as StoreChange)) this.emit(n.payload as StoreChange);
      else if (n.payload === probe) tell('heard');
    });
    const listen: pg.QueryConfig & { query_timeout: number } = {
      text: `LISTEN ${CHANGE_CHANNEL}`,
      query_timeout: LISTEN_CHECK_MS,
    };
    client
      .connect()
      .then(() => client.query(listen))
      .then(() => (lost || this.closed ? 'lost' : this.hearsItself(probe, heard)))
      .then((verdict) => {
        if (lost || this.closed || verdict === 'lost') return;
        if (verdict === 'deaf') {
          // A plain Error, not StoreUnavailableError: waiting will not mend it, the URL must change.
          const err = new Error(
            `PostgreSQL at ${redactUrl(this.opts.url)}: a notification this broker sent did not reach its own LISTEN connection within ${LISTEN_CHECK_MS / 1000} s, as happens behind a connection pooler in transaction or statement mode: ${SESSION_NEEDED}`,
          );
          if (this.firstListen) this.firstListen(err);
          else if (!this.deafReported) this.onError(err);
          this.firstListen = undefined;
          this.deafReported = true;
          onLost(); // not listening: tried again after the back-off, the poll meanwhile
          return;
        }
        this.deafReported = false;
        this.listening = true;
        this.firstListen?.('listening');
        this.firstListen = undefined;
        this.reconnectDelay = this.opts.reconnectMs ?? 250;
        // Notifications sent while no one listened are gone: everything may have changed.
        if (this.hasConnectedBefore) for (const what of CHANGES) this.emit(what);
        this.hasConnectedBefore = true;
      })
      .catch((err: unknown) => onLost(err));
  }

  /**
   * Every LISTEN is tried end to end before the store counts on it: a notification sent through the pool must reach
   * it. A pooler in transaction or statement mode (PgBouncer's pool_mode) lets LISTEN succeed and then hands its
   * server connection to other clients, so no notification ever arrives: changes made through another instance (a
   * revocation, a key) would reach this one only by the poll, and the named statements break under load. 'deaf' then
   * (open() refuses; later, onError once and the connection is tried again after the back-off); 'lost' if the
   * connection went first (no verdict: the reconnect tries again); 'heard' also when the notification could not be
   * sent (the pool's trouble, not the listener's). Other instances ignore the probe's payload.
   */
  private async hearsItself(
    payload: string,
    heard: Promise<'heard' | 'lost'>,
  ): Promise<'heard' | 'lost' | 'deaf'> {
    let timer: NodeJS.Timeout | undefined;
    const deaf = new Promise<'deaf'>(
      (resolve) => (timer = setTimeout(() => resolve('deaf'), LISTEN_CHECK_MS)),
    );
    try {
      try {
        await this.query('a notification to itself', 'SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, payload]);
      } catch {
        return 'heard';
      }
      return await Promise.race([heard, deaf]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether the LISTEN connection is up (tests, /readyz detail). */
  isListening(): boolean {
    return this.listening;
  }

  onChange(listener: (what: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- Store ---

  async version(): Promise<number> {
    const r = await this.query<{ version: number }>(
      'reading the schema version',
      'SELECT version FROM broker_schema',
    );
    return r.rows[0]?.version ?? 0;
  }

  async ready(): Promise<void> {
    await this.query('the readiness probe', 'SELECT 1', [], READY_TIMEOUT_MS);
  }

  async useJti(issuer: string, jti: string, expiresAt: number): Promise<boolean> {
    const item: JtiItem = {
      issuer: pgText(issuer) as string,
      jti: pgText(jti) as string,
      expiresAt: pgSeconds(expiresAt),
      insertId: randomUUID(),
    };
    const pending = this.jtis.add(item);
    pending.done.catch(() => undefined);
    try {
      return await this.timed('recording a used jti', pending.done);
    } catch (err: unknown) {
      // Answered as not recorded. Still queued: taken out, never sent, nothing to undo. Sent: if its insert commits
      // (or did, its reply lost), that row is deleted again, so the jti stays unused.
      if (!pending.withdraw()) {
        pending.done.then(
          (won) => {
            if (won) this.unuseJti(item);
          },
          (e: unknown) => {
            if (mayHaveCommitted(e)) this.unuseJti(item, e);
          },
        );
      }
      throw err;
    }
  }

  /** One group commit of used jtis: true for each item that inserted its row (the first of a key in the batch). */
  private async writeJtis(items: JtiItem[]): Promise<boolean[]> {
    const first = new Map<string, number>();
    items.forEach((it, i) => {
      const key = `${it.issuer}\n${it.jti}`;
      if (!first.has(key)) first.set(key, i);
    });
    const unique = [...first.values()].map((i) => items[i] as JtiItem);
    const r = await this.insertJtis([
      unique.map((u) => u.issuer),
      unique.map((u) => u.jti),
      unique.map((u) => u.expiresAt),
      unique.map((u) => u.insertId),
    ]);
    const won = new Set(r.rows.map((row) => `${row.issuer}\n${row.jti}`));
    return items.map((it, i) => {
      const key = `${it.issuer}\n${it.jti}`;
      return first.get(key) === i && won.has(key);
    });
  }

  /**
   * One of the hot statements (used jtis, audit rows, undos) on a pooled connection, bounded twice: by the server
   * (statement_timeout: cancelled, nothing of it commits) and, should no answer come at all, here a second later
   * (the connection is ended; the outcome is unknown). A connection that could not be had marks its error unsent.
   */
  private async hot<R extends QueryResultRow>(q: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err: unknown) {
      if (typeof err === 'object' && err !== null) unsent.add(err);
      throw err;
    }
    const heard = hearLoss(client);
    let broken: Error | undefined;
    try {
      const config: pg.QueryConfig & { query_timeout: number } = { ...q, query_timeout: this.replyMs };
      return await client.query<R>(config);
    } catch (err: unknown) {
      // A refusal leaves the connection usable; without an answer it may still be running the statement: which
      // backend is kept with the error (unuseJti may have to end it).
      if (!(err instanceof pg.DatabaseError && err.severity === 'ERROR')) {
        broken = err instanceof Error ? err : new Error(String(err));
        const backend = backends.get(client);
        if (backend && typeof err === 'object' && err !== null) sentTo.set(err, backend);
      }
      throw err;
    } finally {
      heard();
      client.release(broken);
    }
  }

  /**
   * The used jtis' statement (issuers, jtis, expiries, insert ids as arrays), with the audit rows that wait for a
   * statement of their own riding along. Should the server refuse it for its data (nothing of it committed), the
   * jtis go again alone, never failed by an audit row, and the rows in a statement of their own (which fails them if
   * they were the cause), awaited here so that flush() and close() wait for it too. One cancelled or unanswered is
   * not sent again: its callers have had their answer.
   */
  private async insertJtis(jtiValues: unknown[][]): Promise<pg.QueryResult<{ issuer: string; jti: string }>> {
    const alone = () =>
      this.hot<{ issuer: string; jti: string }>({
        name: 'broker-use-jtis',
        text: INSERT_JTIS,
        values: jtiValues,
      });
    const riders = this.audits.take(GROUP_MAX);
    if (riders.length === 0) return alone();
    const rows = riders.map((a) => a.item);
    try {
      const r = await this.hot<{ issuer: string; jti: string }>({
        name: 'broker-use-jtis-audit',
        text: INSERT_JTIS_AND_AUDIT,
        values: [...jtiValues, ...auditValues(rows)],
      });
      for (const a of riders) a.resolve(undefined);
      return r;
    } catch (err: unknown) {
      if (!(err instanceof pg.DatabaseError) || isUnavailable(err)) {
        for (const a of riders) a.reject(err);
        throw err;
      }
      const audited = this.writeAudits(rows).then(
        () => riders.forEach((a) => a.resolve(undefined)),
        (e: unknown) => riders.forEach((a) => a.reject(e)),
      );
      const [r] = await Promise.all([alone(), audited]);
      return r;
    }
  }

  /** One group commit of audit rows. */
  private async writeAudits(rows: AuditRecord[]): Promise<void[]> {
    await this.hot({
      name: 'broker-insert-audit',
      text: INSERT_AUDIT,
      values: auditValues(rows),
    });
    return rows.map(() => undefined);
  }

  /** An audit row pushed out of a full queue: its caller hears, and the count is reported (reportAuditDrops). */
  private dropAudit(dropped: Queued<AuditRecord, void>): void {
    this.auditRowsDropped++;
    dropped.reject(
      new StoreUnavailableError(
        `the audit row was dropped unwritten: ${AUDIT_QUEUE_MAX} newer rows were waiting for PostgreSQL`,
      ),
    );
    this.auditDropTimer ??= setTimeout(() => this.reportAuditDrops(), 0);
  }

  /** One report for the drops since the last, then at most one every AUDIT_DROP_REPORT_MS while they go on. */
  private reportAuditDrops(): void {
    const n = this.auditRowsDropped - this.auditDropsReported;
    this.auditDropTimer = undefined;
    if (n === 0 || this.closed) return;
    this.auditDropsReported = this.auditRowsDropped;
    this.onError(
      new StoreUnavailableError(
        `${n} audit row${n === 1 ? '' : 's'} dropped unwritten (${this.auditRowsDropped} since the start): more than ${AUDIT_QUEUE_MAX} were waiting for PostgreSQL`,
      ),
    );
    this.auditDropTimer = setTimeout(() => this.reportAuditDrops(), AUDIT_DROP_REPORT_MS);
    this.auditDropTimer.unref();
  }

  /** What waits in this instance for a statement (not what is in flight; a test reads it). */
  backlog(): { jtis: number; audits: number; undos: number } {
    return { jtis: this.jtis.waiting, audits: this.audits.waiting, undos: this.undos.waiting };
  }

  /** The undos owed now (uses answered as failed whose insert may have landed), and the audit rows dropped so far. */
  stats(): StoreStats {
    return { owedJtis: this.owed.size, auditRowsDropped: this.auditRowsDropped };
  }

  /**
   * Owes the undo of a use answered as failed: deletes its row if that use's insert wrote it (its insert_id), so a try
   * that ran but lost its reply is tried again and the next try then leaves another exchange's row, if any. Owed until
   * done or until the jti has expired (its row no longer matters then: purgeExpired takes it), tried again with
   * back-off meanwhile; close() gives them a last chance, bounded (closeOnce()). Given up, it is reported (issuer, jti,
   * insert id): a row left makes a jti nobody was given a token for used, and that token's retry refused as replayed.
   * `unanswered`: the use's statement failed with no answer (its error), so its insert may still be running.
   */
  private unuseJti(item: JtiItem, unanswered?: unknown): void {
    if (this.owed.has(item.insertId)) return;
    if (this.closed) {
      this.gaveUpUndo(item, 'the store was closed before it could be tried');
      return;
    }
    const backend =
      typeof unanswered === 'object' && unanswered !== null ? sentTo.get(unanswered) : undefined;
    const done = this.undo(item, unanswered !== undefined, backend, Date.now())
      .catch((err: unknown) => this.onError(err))
      .finally(() => this.owed.delete(item.insertId));
    this.owed.set(item.insertId, { item, done });
  }

  /**
   * The course of one owed undo. A use answered late (its insert committed) is undone by a DELETE, tried until it is
   * answered. One that went unanswered is harder: its backend may still be running the insert (waiting on another
   * transaction's row lock, or in its commit), or the statement may still be on its way there, so a DELETE that finds
   * nothing proves nothing; the insert can commit after it. So the backend is ended first, by pid and start time
   * (endBackend()): once it is gone, nothing of it commits later (a backend in its commit finishes the commit before
   * it exits, and the DELETE after sees the row). Ending it, rather than watching pg_stat_activity until it is idle, is
   * what also covers a statement still on its way: an idle backend may yet receive it, a terminated one cannot. The
   * backend is the broker's own, its connection already given up (hot()); the pooled connections share one role, and
   * a role may terminate its own backends. Where it cannot be ended (unknown, or the server refuses), the DELETE is
   * repeated until it deletes the row or UNDO_UNCERTAIN_MS have passed since the use: bounded, not a proof.
   */
  private async undo(item: JtiItem, unanswered: boolean, backend: Backend | undefined, since: number) {
    let settled = !unanswered;
    let retry = UNDO_RETRY_MS;
    let last: unknown;
    const repeatUntil = since + Math.max(UNDO_UNCERTAIN_MS, 4 * this.replyMs);
    for (;;) {
      let wait = UNDO_REPEAT_MS;
      try {
        if (!settled && backend) {
          try {
            settled = await this.endBackend(backend);
          } catch (err: unknown) {
            // The server refuses to end it (a role without the right, class 42; pg_terminate_backend's wait is
            // PostgreSQL 14's): the DELETE is repeated instead, for a bounded time.
            if (!(err instanceof pg.DatabaseError && err.code?.startsWith('42'))) throw err;
            last = err;
            backend = undefined;
          }
        }
        // Not yet exited (its wait passed): nothing is deleted before it has.
        if (settled || !backend) {
          const deleted = await this.undos.add(item).done;
          if (deleted || settled || Date.now() >= repeatUntil) return;
        }
      } catch (err: unknown) {
        last = err;
        wait = retry;
        retry = Math.min(retry * 2, UNDO_RETRY_MAX_MS);
      }
      if (!this.owed.has(item.insertId)) return; // given up by close(), which said so
      if (nowSeconds() > item.expiresAt) {
        this.gaveUpUndo(item, 'the jti has expired (its row is purged)', last);
        return;
      }
      await this.undoPause(wait);
    }
  }

  /**
   * Terminates the backend that ran an unanswered use and waits (a while) for it to exit: true once it is gone (or was
   * already: no backend of that pid and start), false if it has not exited yet. Its pid and start name it, so a
   * reused pid is never ended. Shared by every undo of that backend. Only a connection straight to the server has
   * its backend recorded (onConnect): behind a pooler the server connection may have been handed to another client
   * since, and ending it would end that client's session (postgres-pgbouncer.engine.test).
   */
  private endBackend(backend: Backend): Promise<boolean> {
    backend.ending ??= this.query<{ gone: boolean }>(
      'ending the backend of an unanswered use',
      `SELECT pg_terminate_backend(pid, $3) AS gone FROM pg_stat_activity
       WHERE pid = $1 AND extract(epoch FROM backend_start)::text = $2`,
      [backend.pid, backend.started, Math.max(1, Math.floor(this.deadline / 2))],
    ).then(
      (r) => {
        const gone = r.rows.length === 0 || r.rows[0]?.gone === true;
        if (!gone) backend.ending = undefined; // asked again at the next try
        return gone;
      },
      (err: unknown) => {
        backend.ending = undefined;
        throw err;
      },
    );
    return backend.ending;
  }

  /** Waits `ms` before an owed undo's next try; close() cuts it short (undoWake), and waits are short while closing. */
  private undoPause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.undoWake.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, this.undosClosing ? Math.min(ms, 100) : ms);
      timer.unref(); // close() is what waits for the undos; a timer must not keep a finished process up
      this.undoWake.add(wake);
    });
  }

  /** Reports an owed undo given up: what stays used, never a secret. */
  private gaveUpUndo(item: JtiItem, why: string, last?: unknown): void {
    const cause = last === undefined ? '' : `; last error: ${this.clean(last).message}`;
    this.onError(
      new StoreUnavailableError(
        `gave up undoing a use answered as failed (${why}): issuer ${item.issuer}, jti ${item.jti}, insert id ${item.insertId} may stay used${cause}`,
      ),
    );
  }

  private async deleteOwnJtis(items: JtiItem[]): Promise<boolean[]> {
    const r = await this.hot<{ insert_id: string }>({
      name: 'broker-unuse-jtis',
      text: DELETE_OWN_JTIS,
      values: [items.map((i) => i.issuer), items.map((i) => i.jti), items.map((i) => i.insertId)],
    });
    const deleted = new Set(r.rows.map((row) => row.insert_id));
    return items.map((i) => deleted.has(i.insertId));
  }

  async purgeExpired(now: number, skew: number): Promise<number> {
    // The unverified-audit counts of minutes long over (admitUnverified) go first: a few small rows a minute, which a
    // jti purge that fails (its time limit on a large table) must not keep too.
    await this.query(
      'purging unverified-audit counts',
      `WITH seen AS (DELETE FROM unverified_seen WHERE minute < $1) DELETE FROM unverified_budget WHERE minute < $1`,
      [(now - UNVERIFIED_KEEP_S) * 1000],
      30_000,
    );
    // Statements of JTI_PURGE_BATCH rows, on the expiry index: one DELETE of a large backlog could outlast its time
    // limit (and the next minute's would start over), and SKIP LOCKED lets instances purging at once take different
    // rows rather than wait for each other or for a transaction that holds one.
    let total = 0;
    for (;;) {
      const r = await this.query(
        'purging used jtis',
        `DELETE FROM used_jti WHERE (issuer, jti) IN
           (SELECT issuer, jti FROM used_jti WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [now - skew, JTI_PURGE_BATCH],
        30_000,
      );
      const n = r.rowCount ?? 0;
      total += n;
      if (n < JTI_PURGE_BATCH) return total;
      await new Promise((resolve) => setTimeout(resolve, JTI_PURGE_PAUSE_MS));
      if (this.closed) return total; // stopped meanwhile: the next start's purge takes the rest
    }
  }

  async admitUnverified(minute: number, key: string, cap: number): Promise<UnverifiedSlot> {
    const pending = this.unverified.add({ minute, key, cap });
    pending.done.catch(() => undefined);
    try {
      return await this.timed('counting an unverified refusal', pending.done);
    } catch (err: unknown) {
      pending.withdraw(); // answered: never counted later
      throw err;
    }
  }

  /**
   * The unverified refusals that queued while the last statement ran, counted together: one statement per minute
   * and cap among them (one, but at a minute's turn or a reload). A flood of garbage thus costs the database a
   * statement at a time, not one per refusal, and never holds more than one of the pool's connections.
   */
  private async countUnverified(items: UnverifiedItem[]): Promise<UnverifiedSlot[]> {
    const out: UnverifiedSlot[] = new Array<UnverifiedSlot>(items.length);
    const groups = new Map<string, number[]>();
    items.forEach((it, i) => {
      const g = `${it.minute} ${it.cap}`;
      const group = groups.get(g);
      if (group) group.push(i);
      else groups.set(g, [i]);
    });
    for (const indices of groups.values()) {
      const { minute, cap } = items[indices[0] as number] as UnverifiedItem;
      const r = await this.hot<{ granted: number; fresh: number[] }>({
        name: 'broker-count-unverified',
        text: COUNT_UNVERIFIED,
        values: [minute, indices.map((i) => (items[i] as UnverifiedItem).key), cap],
      });
      const row = r.rows[0];
      const fresh = new Set(row?.fresh ?? []);
      let granted = row?.granted ?? 0;
      indices.forEach((itemIndex, i) => {
        if (!fresh.has(i + 1)) out[itemIndex] = 'seen';
        else out[itemIndex] = granted-- > 0 ? 'admit' : 'full';
      });
    }
    return out;
  }

  async audit(rec: AuditRecord): Promise<void> {
    const pending = this.audits.add(rec);
    pending.done.catch(() => undefined);
    try {
      await this.timed('writing an audit row', pending.done);
    } catch (err: unknown) {
      pending.withdraw(); // answered as unwritten: not written later either
      throw err;
    }
  }

  async queryAudit(q: AuditQuery): Promise<AuditRecord[]> {
    // What this instance audited so far is in the answer (as with SQLite), not still waiting for its statement (its
    // own, or the used jtis' it rides in).
    await Promise.all([this.audits.flush(), this.jtis.flush()]);
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.since !== undefined) {
      args.push(q.since);
      where.push(`at >= $${args.length}`);
    }
    if (q.repository !== undefined) {
      args.push(q.repository);
      where.push(`lower(repository) = lower($${args.length})`);
    }
    if (q.requestId !== undefined) {
      args.push(q.requestId);
      where.push(`request_id = $${args.length}`);
    }
    args.push(q.limit ?? 10_000);
    const sql = `SELECT ${AUDIT_FIELDS.map((f) => `${column(f)} AS "${f}"`).join(', ')} FROM audit
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${args.length}`;
    const r = await this.query('reading the audit trail', sql, args, 30_000);
    return r.rows.map((row) => withoutNulls<AuditRecord>(row));
  }

  async purgeAudit(before: number, limit: number): Promise<number> {
    // SKIP LOCKED: instances purging at the same time take different rows instead of waiting for each other.
    const r = await this.query(
      'purging old audit rows',
      `DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [before, limit],
      30_000,
    );
    return r.rowCount ?? 0;
  }

  async revoke(
    kind: RevocationKind,
    value: string,
    before: number | undefined,
    at = nowSeconds(),
  ): Promise<Revocation> {
    const r = await this.query<{ id: number }>(
      'recording a revocation',
      'INSERT INTO revocation (at, kind, value, before) VALUES ($1, $2, $3, $4) RETURNING id',
      [at, kind, value, before ?? null],
    );
    this.revocationGen++;
    const out: Revocation = { id: r.rows[0]?.id ?? 0, at, kind, value };
    if (before !== undefined) out.before = before;
    return out;
  }

  async revocations(): Promise<Revocation[]> {
    // Every row, each time: ids are allocated before commit, so "the ones after the last id seen" could skip one
    // that committed late. Revocations are few.
    const r = await this.query<{
      id: number;
      at: number;
      kind: RevocationKind;
      value: string;
      before: number | null;
    }>('reading revocations', 'SELECT id, at, kind, value, before FROM revocation ORDER BY id');
    return r.rows.map((row) => withoutNulls<Revocation>(row));
  }

  async isRevoked(t: RevocationSubject, nowMs?: number): Promise<Revocation | undefined> {
    void nowMs;
    if (this.revocationsReadGen !== this.revocationGen) await this.loadRevocations();
    return this.revoked.find(
      (r) =>
        (r.before === undefined || t.issuedAt < r.before) &&
        ((r.kind === 'jti' && r.value === t.jti) ||
          (r.kind === 'rule' && r.value === t.rule) ||
          (r.kind === 'project' && r.value === t.project)),
    );
  }

  /** Refreshes the revocation cache; concurrent callers share one read. */
  private loadRevocations(): Promise<void> {
    this.revocationsLoading ??= (async () => {
      const gen = this.revocationGen;
      try {
        this.revoked = await this.revocations();
        this.revocationsReadGen = gen;
      } finally {
        this.revocationsLoading = undefined;
      }
    })();
    return this.revocationsLoading;
  }

  async createClaim(row: ClaimRow): Promise<void> {
    await this.query('storing a fork-PR claim', INSERT_CLAIM, claimValues(row));
  }

  async claim(idSha256: string): Promise<ClaimRow | undefined> {
    const r = await this.query(
      'reading a fork-PR claim',
      `SELECT ${CLAIM_FIELDS.map((f) => `${column(f)} AS "${f}"`).join(', ')} FROM claim WHERE id_sha256 = $1`,
      [idSha256],
    );
    const row = r.rows[0];
    return row ? withoutNulls<ClaimRow>(row) : undefined;
  }

  async claimChecked(idSha256: string, checked: string): Promise<void> {
    await this.query(
      'recording a checked claim',
      'UPDATE claim SET checked = $1 WHERE id_sha256 = $2 AND refusal IS NULL AND used_at IS NULL',
      [checked, idSha256],
    );
  }

  async refuseClaimWith(idSha256: string, code: string, message: string): Promise<void> {
    await this.query(
      'recording a refused claim',
      'UPDATE claim SET refusal = $1, refusal_message = $2 WHERE id_sha256 = $3 AND refusal IS NULL AND used_at IS NULL',
      [code, message, idSha256],
    );
  }

  async useClaim(idSha256: string, nowMs: number): Promise<boolean> {
    const r = await this.query(
      'using a claim',
      'UPDATE claim SET used_at = $1 WHERE id_sha256 = $2 AND refusal IS NULL AND used_at IS NULL AND expires_at > $1',
      [nowMs, idSha256],
    );
    return r.rowCount === 1;
  }

  async purgeClaims(beforeMs: number): Promise<number> {
    const r = await this.query(
      'purging claims',
      'DELETE FROM claim WHERE expires_at < $1',
      [beforeMs],
      30_000,
    );
    return r.rowCount ?? 0;
  }

  async signingKeys(): Promise<StoredKey[]> {
    const r = await this.query<KeyRow>(
      'reading the signing keys',
      `SELECT kid, state, private_jwk_enc, public_jwk, created_at, current_since, publish_until
       FROM signing_key ORDER BY position`,
    );
    return r.rows.map((row) => {
      const key: StoredKey = {
        kid: row.kid,
        state: row.state,
        privateJwk: JSON.parse(
          this.unseal(`signing key ${row.kid}`, row.private_jwk_enc),
        ) as StoredKey['privateJwk'],
        publicJwk: JSON.parse(row.public_jwk) as StoredKey['publicJwk'],
        createdAt: row.created_at,
      };
      if (row.current_since !== null) key.currentSince = row.current_since;
      if (row.publish_until !== null) key.publishUntil = row.publish_until;
      return key;
    });
  }

  async saveSigningKeys(keys: StoredKey[]): Promise<void> {
    await this.transaction('saving the signing keys', async (c) => {
      await c.query('DELETE FROM signing_key');
      await this.insertSigningKeys(c, keys);
    });
  }

  /** Inserts the keys in their order, the private halves sealed (the table is empty, or was emptied, before). */
  private async insertSigningKeys(c: PoolClient, keys: StoredKey[]): Promise<void> {
    let position = 0;
    for (const k of keys) {
      await c.query(
        `INSERT INTO signing_key (kid, state, private_jwk_enc, public_jwk, created_at, current_since, publish_until, position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          k.kid,
          k.state,
          seal(this.opts.keySecret, `signing key ${k.kid}`, JSON.stringify(k.privateJwk)),
          JSON.stringify(k.publicJwk),
          k.createdAt,
          k.currentSince ?? null,
          k.publishUntil ?? null,
          position++,
        ],
      );
    }
  }

  async registryCa(): Promise<CertificateAndKey | undefined> {
    const r = await this.query<{ cert_pem: string; key_pem_enc: string }>(
      'reading the registry CA',
      'SELECT cert_pem, key_pem_enc FROM registry_ca',
    );
    const row = r.rows[0];
    return row
      ? { certPem: row.cert_pem, keyPem: this.unseal('registry CA key', row.key_pem_enc) }
      : undefined;
  }

  async initRegistryCa(ca: CertificateAndKey): Promise<CertificateAndKey> {
    await this.query(
      'storing the registry CA',
      `INSERT INTO registry_ca (singleton, cert_pem, key_pem_enc, created_at) VALUES (true, $1, $2, $3)
       ON CONFLICT (singleton) DO NOTHING`,
      [ca.certPem, seal(this.opts.keySecret, 'registry CA key', ca.keyPem), nowSeconds()],
    );
    const inForce = await this.registryCa();
    if (!inForce) throw new StoreUnavailableError('the registry CA was stored but cannot be read back');
    return inForce;
  }

  async registrySigner(): Promise<CertificateAndKey | undefined> {
    const r = await this.query<{ cert_pem: string; key_pem_enc: string }>(
      'reading the registry signer',
      'SELECT cert_pem, key_pem_enc FROM registry_signer',
    );
    const row = r.rows[0];
    return row
      ? { certPem: row.cert_pem, keyPem: this.unseal('registry signer key', row.key_pem_enc) }
      : undefined;
  }

  async saveRegistrySigner(leaf: CertificateAndKey): Promise<void> {
    await this.query(
      'saving the registry signer',
      `INSERT INTO registry_signer (singleton, cert_pem, key_pem_enc, updated_at) VALUES (true, $1, $2, $3)
       ON CONFLICT (singleton) DO UPDATE SET cert_pem = excluded.cert_pem, key_pem_enc = excluded.key_pem_enc,
         updated_at = excluded.updated_at`,
      [leaf.certPem, seal(this.opts.keySecret, 'registry signer key', leaf.keyPem), nowSeconds()],
    );
  }

  /** Whether the database holds signing keys, a registry CA or a signer (a cheap count: nothing is decrypted). */
  async holdsKeys(): Promise<boolean> {
    const r = await this.query<{ n: number }>('counting the stored keys', KEY_ROWS_SQL);
    return Number(r.rows[0]?.n ?? 0) > 0;
  }

  /**
   * Takes over a SQLite data dir's state (store/adopt.ts) when this database holds no keys, CA or signer yet,
   * all of it in one transaction under an advisory lock: instances starting together on one empty database take
   * over one data dir, once. Resolves with the number of audit rows carried, or undefined, having changed nothing,
   * when the database already holds any of them.
   */
  async adopt(from: DataDirState): Promise<{ auditRows: number } | undefined> {
    const adopted = await this.transaction(
      'taking over the data dir',
      async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [ADOPT_LOCK.toString()]);
        const held = await c.query<{ n: number }>(KEY_ROWS_SQL);
        if (Number(held.rows[0]?.n ?? 0) > 0) return undefined;
        const at = nowSeconds();
        await this.insertSigningKeys(c, from.signingKeys);
        // The CA and its signer leaf, each with its private key sealed (the labels are those registryCa() and
        // registrySigner() unseal with).
        const pairs = [
          ['registry_ca', 'created_at', 'registry CA key', from.registryCa],
          ['registry_signer', 'updated_at', 'registry signer key', from.registrySigner],
        ] as const;
        for (const [table, time, label, pair] of pairs) {
          if (!pair) continue;
          await c.query(
            `INSERT INTO ${table} (singleton, cert_pem, key_pem_enc, ${time}) VALUES (true, $1, $2, $3)`,
            [pair.certPem, seal(this.opts.keySecret, label, pair.keyPem), at],
          );
        }
        for (const r of from.revocations) {
          await c.query('INSERT INTO revocation (at, kind, value, before) VALUES ($1, $2, $3, $4)', [
            r.at,
            r.kind,
            r.value,
            r.before ?? null,
          ]);
        }
        // The used jtis in one statement per thousand: a busy broker holds tens of thousands within a token's life.
        for (let i = 0; i < from.jtis.length; i += 1000) {
          const part = from.jtis.slice(i, i + 1000);
          await c.query(
            `INSERT INTO used_jti (issuer, jti, expires_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING`,
            [part.map((j) => j[0]), part.map((j) => j[1]), part.map((j) => j[2])],
          );
        }
        // Fork-PR claims: a pull request's build waiting on one goes on across the move; a used one stays used.
        for (const claim of from.claims) await c.query(INSERT_CLAIM, claimValues(claim));
        let auditRows = 0;
        for (const page of from.auditPages()) {
          await c.query(INSERT_AUDIT, auditValues(page));
          auditRows += page.length;
        }
        return { auditRows };
      },
      // Once, at the first start: 90 days of a busy broker's audit trail is millions of rows.
      30 * 60_000,
    );
    if (adopted) this.revocationGen++; // this instance's cache of revocations reads them again
    return adopted;
  }

  /** Opens a sealed value with the key secret, else with a previous one. */
  private unseal(label: string, sealed: string): string {
    try {
      return unseal(this.opts.keySecret, label, sealed);
    } catch (err: unknown) {
      for (const secret of this.opts.previousKeySecrets ?? []) {
        try {
          return unseal(secret, label, sealed);
        } catch {
          // not this one either
        }
      }
      throw err;
    }
  }

  /**
   * `rotate-key-secret`: re-encrypts every stored private key under `next` in one transaction (rows locked, so two
   * rotations never interleave) and says how many it re-encrypted, and how many of them `next` did not open before
   * (with `next` the secret in force: the keys an instance still on an older secret sealed during the rollout). Instances keep working when they hold `next` as
   * BROKER_KEY_SECRET or in BROKER_KEY_SECRET_PREVIOUS; a key this store's secrets cannot open stops the rotation
   * with nothing changed.
   */
  async rotateKeySecret(next: Buffer): Promise<{ keys: number; underOther: number }> {
    if (next.length !== 32) throw new Error(`the new ${KEY_SECRET_ENV} must be 32 bytes`);
    let underOther = 0;
    const reseal = (label: string, sealed: string) => {
      try {
        unseal(next, label, sealed);
      } catch {
        underOther++; // sealed under another secret than `next` (the one in force, or one an older instance held)
      }
      return seal(next, label, this.unseal(label, sealed));
    };
    const keys = await this.transaction(
      're-encrypting the stored keys',
      async (c) => {
        let n = 0;
        const keys = await c.query<{ kid: string; private_jwk_enc: string }>(
          'SELECT kid, private_jwk_enc FROM signing_key ORDER BY kid FOR UPDATE',
        );
        for (const k of keys.rows) {
          const label = `signing key ${k.kid}`;
          await c.query('UPDATE signing_key SET private_jwk_enc = $1 WHERE kid = $2', [
            reseal(label, k.private_jwk_enc),
            k.kid,
          ]);
          n++;
        }
        for (const [table, label] of [
          ['registry_ca', 'registry CA key'],
          ['registry_signer', 'registry signer key'],
        ] as const) {
          const r = await c.query<{ key_pem_enc: string }>(`SELECT key_pem_enc FROM ${table} FOR UPDATE`);
          const row = r.rows[0];
          if (!row) continue;
          await c.query(`UPDATE ${table} SET key_pem_enc = $1`, [reseal(label, row.key_pem_enc)]);
          n++;
        }
        return n;
      },
      30_000,
    );
    return { keys, underOther };
  }

  /** Every call waits for the one closing: a second close() (a second SIGTERM) returns once the pool has ended. */
  close(): Promise<void> {
    return (this.closing ??= this.closeOnce());
  }

  private async closeOnce(): Promise<void> {
    // Audit rows still waiting for their statement go now, before the pool ends, and the uses in flight settle (an
    // undo they need becomes owed). Each is bounded by its reply timeout.
    await Promise.all([this.audits.flush(), this.jtis.flush(), this.unverified.flush()]).catch(
      () => undefined,
    );
    await this.settleUndos();
    this.closed = true;
    clearTimeout(this.auditDropTimer);
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    this.listeners.clear();
    // Each end() waits for the server's goodbye, which a partition never brings: bounded, then the sockets are cut.
    const listener = this.listener;
    const endListener = async () => {
      if (!listener) return;
      const ended = listener.end().catch(() => undefined);
      if (await settlesWithin(ended, CLOSE_END_MS)) return;
      cut(listener);
      await settlesWithin(ended, CLOSE_END_MS);
    };
    await Promise.all([endListener(), this.endPool()]);
  }

  /**
   * The owed undos' last chance: each waiting for its next try is tried at once (then soon again), and they have
   * UNDO_CLOSE_MS in all; the ones still owed then are given up and reported, before the pool ends.
   */
  private async settleUndos(): Promise<void> {
    this.undosClosing = true;
    for (const wake of [...this.undoWake]) wake();
    // Again while any is owed: one can become owed meanwhile (a use whose late answer comes now).
    const until = Date.now() + UNDO_CLOSE_MS;
    while (this.owed.size > 0 && Date.now() < until) {
      await settlesWithin(Promise.all([...this.owed.values()].map((o) => o.done)), until - Date.now());
    }
    for (const [insertId, { item }] of this.owed) {
      this.owed.delete(insertId);
      this.gaveUpUndo(item, `the store closed; not done within ${UNDO_CLOSE_MS / 1000} s`);
    }
    for (const wake of [...this.undoWake]) wake();
  }

  /**
   * Ends the pool, bounded: pool.end() waits for every connection's goodbye, and for connections checked out (a
   * transaction in flight), or half made (a parameter pg refused as it connected), for good. Past CLOSE_END_MS the
   * connections are cut, and the pool is given as long again; then it is left to the garbage collector.
   */
  private async endPool(): Promise<void> {
    const ended = this.pool.end().catch(() => undefined);
    if (await settlesWithin(ended, CLOSE_END_MS)) return;
    for (const client of this.clients) cut(client);
    await settlesWithin(ended, CLOSE_END_MS);
  }
}

/** The URL's password, decoded, when it has one long enough to be worth scrubbing from messages. */
function safePassword(url: string): string | undefined {
  try {
    const pw = decodeURIComponent(new URL(url).password);
    return pw.length >= 4 ? pw : undefined;
  } catch {
    return undefined;
  }
}

/** Opens the PostgreSQL store from the environment: the URL from `urlEnv`, the key secret from BROKER_KEY_SECRET. */
export async function openPostgresStore(
  urlEnv: string,
  env: NodeJS.ProcessEnv,
  opts: StoreOptions & Partial<Omit<PostgresStoreOptions, 'url' | 'keySecret'>>,
): Promise<PostgresStore> {
  const url = env[urlEnv];
  if (url === undefined || url.trim() === '')
    throw new Error(
      `${urlEnv} is not set: the config's store.postgres.url_env names it (postgres://user:password@host:port/database)`,
    );
  const keySecret = parseKeySecret(env[KEY_SECRET_ENV]);
  const previous = (env[PREVIOUS_KEY_SECRETS_ENV] ?? '')
    .split(',')
    .filter((v) => v.trim() !== '')
    .map((v) => parseKeySecret(v, PREVIOUS_KEY_SECRETS_ENV));
  return PostgresStore.open({
    ...opts,
    urlEnv,
    url: url.trim(),
    keySecret,
    ...(previous.length ? { previousKeySecrets: previous } : {}),
  });
}
