// The broker's state behind one asynchronous interface, with two engines: embedded SQLite (sqlite.ts, the default)
// and PostgreSQL (postgres.ts, several instances on one database). What lives here: used jtis (single use), the
// audit trail, revocations, fork-PR claims, the project-token signing keys, the registry CA and its signer leaf, and
// the schema version. Every method is async; a write resolves only once it is committed.
import type { JWK } from 'jose';

export type StoreEngine = 'sqlite' | 'postgres';

export interface AuditRecord {
  at: number;
  provider: string;
  issuer: string;
  outcome: string;
  /**
   * `exchange`, `registry_token`, `claim` or `claim_exchange`; `unverified_suppressed`: one row a minute standing for
   * the refusals of unverified tokens that were not audited one by one (`suppressed` counts them).
   */
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
  /** An `unverified_suppressed` row: how many refusals it stands for. */
  suppressed?: number | undefined;
}

/** The audit table's columns, in AuditRecord's names (the SQL names are their snake_case, `column()`). */
export const AUDIT_FIELDS = [
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
  'suppressed',
] as const satisfies readonly (keyof AuditRecord)[];

/** The audit columns that hold numbers (the others are text). */
export const AUDIT_NUMBER_FIELDS: ReadonlySet<string> = new Set(['at', 'suppressed']);

/** A field's SQL column name: its snake_case. */
export const column = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export interface AuditQuery {
  /** Seconds since the epoch. */
  since?: number;
  /** Case-insensitive owner/name. */
  repository?: string;
  requestId?: string;
  /** Default 10,000; oldest first. */
  limit?: number;
}

export type RevocationKind = 'jti' | 'rule' | 'project';

export interface Revocation {
  /** Increasing: a reader asks for the ones after the last id it has. */
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

export const CLAIM_FIELDS = [
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

/** A project-token signing key (ES256). */
export interface StoredKey {
  kid: string;
  state: 'next' | 'current' | 'retired';
  privateJwk: JWK;
  publicJwk: JWK;
  createdAt: number;
  /** When it became the current key (seconds since the epoch); createdAt for keys stored before this existed. */
  currentSince?: number;
  /** Seconds since the epoch; set for retired keys. */
  publishUntil?: number;
}

/** A certificate and its private key, PEM (the registry CA, a registry signer leaf). */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

/** What a SQLite data dir holds that a move to PostgreSQL takes over (store/adopt.ts). */
export interface DataDirState {
  signingKeys: StoredKey[];
  registryCa: CertificateAndKey | undefined;
  registrySigner: CertificateAndKey | undefined;
  revocations: Revocation[];
  /** Used jtis whose tokens have not expired. */
  jtis: [issuer: string, jti: string, expiresAt: number][];
  /** Fork-PR claims not yet purged: pending, used and refused alike, so each keeps its state. */
  claims: ClaimRow[];
  /** The audit trail, oldest first, a page at a time (read while the move's transaction runs). */
  auditPages(): Iterable<AuditRecord[]>;
}

/** Store.admitUnverified's answer. */
export type UnverifiedSlot = 'admit' | 'seen' | 'full';

/** What changed in the store, possibly by another process or instance. */
export type StoreChange = 'revocations' | 'keys' | 'signer';

/**
 * A write that was not committed: the store is unreachable or locked past the write's deadline. Nothing it carried
 * took effect (a jti stays unused); the broker answers 503 `state_unavailable` with Retry-After.
 */
export class StoreUnavailableError extends Error {
  constructor(
    message: string,
    /** Seconds a caller should wait before trying again. */
    readonly retryAfter = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A write waits at most this long for the store (the exchange's deadline for committing a jti). */
export const WRITE_DEADLINE_MS = 1_000;

export interface Store {
  readonly engine: StoreEngine;

  /** The schema version in force (migrations are applied when the store opens). */
  version(): Promise<number>;
  /** Resolves when the store answers a trivial query within a short time; rejects (StoreUnavailableError) otherwise. */
  ready(): Promise<void>;

  // Single use.
  /**
   * Records a jti as used, committed before the promise resolves (several callers may share one commit): true for
   * exactly one caller of a given (issuer, jti), across every process and instance on this store; false for a
   * replay. `expiresAt` is the token's own (its exp claim plus CLOCK_SKEW), so a replay, being the same token, comes
   * with the same: SQLite keys its used jtis by it first (an issuer never gives one jti to two tokens). Rejects with
   * StoreUnavailableError when the commit fails or passes its deadline: then the jti is not recorded.
   */
  useJti(issuer: string, jti: string, expiresAt: number): Promise<boolean>;
  /** Forgets jtis whose tokens have expired (with the skew): they can no longer verify anyway. */
  purgeExpired(nowSeconds: number, skew: number): Promise<number>;

  // The audit trail.
  /** Appends a row; resolves once committed (may share a commit with other writes). */
  audit(rec: AuditRecord): Promise<void>;
  /** Rows oldest first, committed and pending alike. */
  queryAudit(q: AuditQuery): Promise<AuditRecord[]>;
  /**
   * Deletes at most `limit` audit rows older than `before` (seconds since the epoch), in one short write; resolves
   * with how many it deleted (`audit_retention`: purgeAuditBefore() in audit-bounds.ts calls it in batches).
   */
  purgeAudit(before: number, limit: number): Promise<number>;
  /**
   * Several instances (PostgreSQL) only: the cap on unverified refusals' rows (audit-bounds.ts) counted once for
   * every instance on the store. For a refusal from client `key` (its rate key; '' when it has no address) in the
   * minute starting at `minute` (milliseconds): `admit` when this is the minute's first sighting of the client by any
   * instance and fewer than `cap` rows were admitted in the minute (one is taken); `seen` when an instance saw the
   * client this minute already; `full` when the minute's `cap` is spent. Absent (SQLite, one instance): the broker
   * counts in memory alone.
   */
  admitUnverified?(minute: number, key: string, cap: number): Promise<UnverifiedSlot>;

  // Revocations.
  /** Records a revocation, committed before it resolves. */
  revoke(kind: RevocationKind, value: string, before: number | undefined, at?: number): Promise<Revocation>;
  /** Every revocation, oldest first. */
  revocations(): Promise<Revocation[]>;
  /**
   * Whether a project token is revoked. Revocations made through any process or instance are in force within a few
   * seconds (a cache refreshed on `onChange('revocations')` or by a short poll).
   */
  isRevoked(t: RevocationSubject, nowMs?: number): Promise<Revocation | undefined>;

  // Fork-PR claims: every write committed before it resolves.
  createClaim(row: ClaimRow): Promise<void>;
  claim(idSha256: string): Promise<ClaimRow | undefined>;
  /** Records what GitHub showed of the claim's run and pull request. */
  claimChecked(idSha256: string, checked: string): Promise<void>;
  /** Records a final refusal of a claim; a used or already refused claim keeps its state. */
  refuseClaimWith(idSha256: string, code: string, message: string): Promise<void>;
  /** Marks a claim used: true for exactly one caller, and only while the claim is unrefused and unexpired. */
  useClaim(idSha256: string, nowMs: number): Promise<boolean>;
  /** Forgets claims that expired before `beforeMs`. */
  purgeClaims(beforeMs: number): Promise<number>;

  // Keys (private keys: PostgreSQL encrypts them with BROKER_KEY_SECRET; SQLite keeps the data dir's 0600 files).
  /** The signing keys, or [] when none were ever stored. */
  signingKeys(): Promise<StoredKey[]>;
  /** Replaces the signing keys (one atomic write). */
  saveSigningKeys(keys: StoredKey[]): Promise<void>;
  /** The registry CA, or undefined when none exists yet. */
  registryCa(): Promise<CertificateAndKey | undefined>;
  /**
   * Stores `ca` unless a CA exists already (another instance made one first, or one was migrated from a data dir),
   * and returns the one in force: a CA is never replaced.
   */
  initRegistryCa(ca: CertificateAndKey): Promise<CertificateAndKey>;
  /** The registry signer leaf in force, or undefined. */
  registrySigner(): Promise<CertificateAndKey | undefined>;
  /** Replaces the registry signer leaf (key and certificate together). */
  saveRegistrySigner(leaf: CertificateAndKey): Promise<void>;

  /**
   * Calls `listener` when revocations, keys or the signer may have changed through another process or instance
   * (PostgreSQL: LISTEN/NOTIFY plus a poll; SQLite: a poll, or never). Returns the unsubscribe function.
   */
  onChange(listener: (what: StoreChange) => void): () => void;

  /** What an operator watches (`/metrics`: broker_state_*): read often, never waits. */
  stats(): StoreStats;

  /** Commits what is pending, then closes. */
  close(): Promise<void>;
}

/** The store's own figures for `/metrics`. */
export interface StoreStats {
  /**
   * Used jtis whose uses were answered as failed (503 state_unavailable, nothing minted) but may be on disk, not yet
   * deleted again: until each is (SQLite: by the next write; PostgreSQL: retried with back-off) or expires, a retry
   * with that very token is refused as replayed. Above 0 only while the state is failing or just after.
   */
  owedJtis: number;
  /** Audit rows dropped unwritten since the start (PostgreSQL: too many waited while the database was away). */
  auditRowsDropped: number;
}

/** What every engine's constructor or `open()` takes besides its own connection settings. */
export interface StoreOptions {
  /** The broker's data directory (SQLite keeps state.db and the key files there). */
  dataDir: string;
  /** Hears about a failed background write or poll (the broker logs it); never throws. */
  onError?: (err: unknown) => void;
  /** A write's deadline, milliseconds (default WRITE_DEADLINE_MS; tests shorten it). */
  writeDeadlineMs?: number;
  /**
   * Whether a state of an earlier schema version is brought up to date (default true: a broker, as it starts). The
   * broker commands pass false: a newer release's command must not change the schema under a broker of the earlier
   * release that runs on the same state (it could fail, and would refuse to start again); it is refused instead, with
   * what to do (olderSchema). A state that does not exist yet is created either way.
   */
  upgrade?: boolean;
}

/** Why a broker command (StoreOptions.upgrade false) does not open a state of an earlier schema version. */
export function olderSchema(version: number, current: number): Error {
  return new Error(
    `the broker state (schema version ${version}) is older than this release's (version ${current}), and a broker command does not upgrade it under a broker of the earlier release that may run on it: start this release's broker on it first (it upgrades the state as it starts), or run the command with the release the running broker is`,
  );
}
