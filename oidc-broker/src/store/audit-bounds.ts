// The audit trail is bounded (issue 25):
// - retention: rows older than `audit_retention` are deleted in the background, a batch at a time (purgeAuditBefore,
//   from the broker's minute housekeeping), so no delete holds the write lock for long;
// - refusals of tokens that never passed verification (not JSON, not a JWT, an unknown issuer, a bad signature, an
//   expired or not yet valid token, ...: anyone can send those, from any number of addresses) are audited at most
//   once per client address per minute and at most `audit_unverified_per_minute` rows a minute in all; the others of
//   the minute are counted, and one `unverified_suppressed` row carries the count when the minute ends. With several
//   instances on PostgreSQL both counts are the database's, shared by all of them (Store.admitUnverified); each
//   instance writes its own aggregate row. Refusals of verified tokens are always audited.
//   An IPv6 client counts by its /64 (address.ts rateKey()), as the rate limits do: a /64 is one subscriber's.
// - size: every text value of a row and of the request's log line is cut to a bound (boundAudit(), applied by
//   exchange.ts auditLater() and logFields(), which every endpoint's rows and lines go through): a caller sends up to
//   64 KB a request, and a verified refusal (a replay) is audited each time.
import { rateKey } from '../address';
import type { AuditRecord, Store, UnverifiedSlot } from './types';

/**
 * The most characters an audit text value keeps (UTF-16 code units, so at most 3 bytes each in UTF-8: a value never
 * passes 3 times its bound in bytes, whatever its script). Ids, names, addresses, shas and the like: 256, far above
 * what a real one needs (a GitHub owner/name is at most 140).
 */
export const AUDIT_TEXT_MAX = 256;
/** Refs, workflow refs and paths (a branch name alone may take 255) and the operator's detail of a refusal. */
export const AUDIT_LONG_TEXT_MAX = 1_024;
/** `/v2/token`'s scopes asked for and granted, space-separated (BuildKit asks for a few repositories at a time). */
export const AUDIT_SCOPES_MAX = 2_048;

const FIELD_MAX: Partial<Record<keyof AuditRecord, number>> = {
  ref: AUDIT_LONG_TEXT_MAX,
  workflowRef: AUDIT_LONG_TEXT_MAX,
  jobWorkflowRef: AUDIT_LONG_TEXT_MAX,
  workflowPath: AUDIT_LONG_TEXT_MAX,
  message: AUDIT_LONG_TEXT_MAX,
  requested: AUDIT_SCOPES_MAX,
  granted: AUDIT_SCOPES_MAX,
};

/** The end of a cut value: how many characters went, e.g. `…(+55,744 chars)`. */
function cutMarker(dropped: number): string {
  return `\u2026(+${String(dropped).replace(/\B(?=(\d{3})+(?!\d))/g, ',')} chars)`;
}

/**
 * `value` when it has at most `max` characters; otherwise its start and a marker of how many characters were dropped,
 * `max` characters in all. A cut never splits a surrogate pair.
 */
export function boundText(value: string, max: number): string {
  if (value.length <= max) return value;
  const fits = (keep: number) => keep + cutMarker(value.length - keep).length <= max;
  // Sized first for a marker of the whole value (the longest it can be), then grown while a shorter marker leaves room.
  let keep = Math.max(0, max - cutMarker(value.length).length);
  while (keep < max && fits(keep + 1)) keep++;
  // Never the first half of a surrogate pair at the end (one more dropped can cost the count a digit: shrink to fit).
  while (keep > 0 && (isHighSurrogate(value.charCodeAt(keep - 1)) || !fits(keep))) keep--;
  return value.slice(0, keep) + cutMarker(value.length - keep);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Cuts every text value of an audit record to its bound (AUDIT_TEXT_MAX, or FIELD_MAX's), in place, and returns it:
 * the row and the log line then carry the same values. Idempotent, and a few comparisons when nothing is long.
 */
export function boundAudit(rec: AuditRecord): AuditRecord {
  const fields = rec as unknown as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (typeof value !== 'string') continue;
    const max = FIELD_MAX[key as keyof AuditRecord] ?? AUDIT_TEXT_MAX;
    if (value.length > max) fields[key] = boundText(value, max);
  }
  return rec;
}

/** Rows one purge statement deletes at most. */
export const AUDIT_PURGE_BATCH = 1_000;
/** Batches one purge run deletes at most (the rest waits for the next run, a minute later). */
const AUDIT_PURGE_MAX_BATCHES = 100;
/** Between two batches: the exchanges' commits go in between. */
const AUDIT_PURGE_PAUSE_MS = 20;

/** Deletes the audit rows older than `before` (seconds), a batch at a time; resolves with how many went. */
export async function purgeAuditBefore(
  store: Pick<Store, 'purgeAudit'>,
  before: number,
  batch = AUDIT_PURGE_BATCH,
): Promise<number> {
  let total = 0;
  for (let i = 0; i < AUDIT_PURGE_MAX_BATCHES; i++) {
    const n = await store.purgeAudit(before, batch);
    total += n;
    if (n < batch) break;
    await new Promise((r) => setTimeout(r, AUDIT_PURGE_PAUSE_MS));
  }
  return total;
}

/** app.ts's client of a request that came through no socket. */
const IN_PROCESS = 'in-process';

/** The audit kind of the row a minute that counts the unverified refusals not audited one by one. */
export const SUPPRESSED_KIND = 'unverified_suppressed';
const MINUTE_MS = 60_000;

/**
 * Decides which refusals of unverified tokens get an audit row of their own. Memory is bounded: the set of addresses
 * seen this minute is cleared each minute and holds only addresses let through this instance's own count: alone, at
 * most `perMinute`; with a shared count also those the store answered `seen` (audited by another instance this
 * minute, so among the database's few rows for the minute); the suppressed ones are only counted, by refusal code (a
 * closed set).
 *
 * With several instances on one store (`shared`: PostgreSQL's admitUnverified), the once-per-client and the cap in
 * all are counted once for all of them: what passes this instance's own count (the same bounds) is then asked of the
 * store (which counts what queued meanwhile in one statement) and written only when the store admits it. Once the store says the
 * minute is spent, the instance stops asking until the next. Each instance writes its own aggregate row a minute.
 */
export class UnverifiedAudit {
  private minute = 0;
  private written = 0;
  private readonly seen = new Set<string>();
  private suppressed = 0;
  private readonly codes = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** The minute the shared count said was spent, and the cap it was spent under (a reload may raise it). */
  private spent = { minute: 0, cap: 0 };
  /** The shared count's answers still to come. */
  private readonly asking = new Set<Promise<void>>();

  constructor(
    /** The cap in force (config.auditUnverifiedPerMinute, read at each refusal so a reload applies). */
    private readonly perMinute: () => number,
    /** Writes the aggregate row (the broker: the store's audit(), a failure logged). */
    private readonly write: (rec: AuditRecord) => Promise<void> | void,
    private readonly now: () => number = Date.now,
    /** The count every instance on the store shares (Store.admitUnverified); absent: this instance alone. */
    private readonly shared?: (minute: number, key: string, cap: number) => Promise<UnverifiedSlot>,
    /** Hears a failure of the shared count: the refusal is then audited on this instance's count alone. */
    private readonly onSharedError: (err: unknown) => void = () => undefined,
  ) {}

  /**
   * Calls `audit` when this refusal gets an audit row of its own (at once, or once the shared count answers);
   * otherwise counts it for the minute's aggregate row. `now`: the refusal's time in milliseconds, which its row's
   * `at` should be, so rows and windows agree on the minute.
   */
  offer(client: string, code: string, now: number, audit: () => void): void {
    const minute = now - (now % MINUTE_MS);
    if (minute !== this.minute) {
      void this.flush();
      this.minute = minute;
    }
    // A request without a network address (made in-process: app.ts IN_PROCESS, the unit tests) has only the cap in all.
    const addressed = client !== '' && client !== IN_PROCESS;
    // An IPv6 client by its /64, as the rate limits count it: one subscriber holds all of its addresses.
    const key = addressed ? rateKey(client) : client;
    const cap = this.perMinute();
    const spent = this.spent.minute === minute && cap <= this.spent.cap;
    if ((addressed && this.seen.has(key)) || this.written >= cap || spent) {
      this.suppress(code, now);
      return;
    }
    if (addressed) this.seen.add(key);
    this.written++;
    if (!this.shared) {
      audit();
      return;
    }
    const asked = this.shared(minute, addressed ? key : '', cap).then(
      (slot) => {
        if (slot === 'admit') return audit();
        if (slot === 'full') this.spent = { minute, cap };
        // Counted in the window open now: the minute's, unless it ended while the store answered.
        if (this.minute === minute) this.written--;
        this.suppress(code, this.now());
      },
      (err: unknown) => {
        this.onSharedError(err);
        audit();
      },
    );
    this.asking.add(asked);
    void asked.finally(() => this.asking.delete(asked));
  }

  /** At shutdown: waits for the shared count's answers still to come, then writes the aggregate row (flush()). */
  async drain(): Promise<void> {
    while (this.asking.size > 0) await Promise.all(this.asking);
    await this.flush();
  }

  private suppress(code: string, now: number): void {
    if (this.minute === 0) this.minute = now - (now % MINUTE_MS);
    this.suppressed++;
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    // The row is written when the minute ends (or at close), whether or not another refusal comes.
    this.timer ??= setTimeout(() => void this.flush(), this.minute + MINUTE_MS - now + 5);
    this.timer.unref();
  }

  /** Writes the aggregate row of the minute, if any refusal was suppressed, and starts afresh. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const count = this.suppressed;
    const codes = [...this.codes].map(([c, n]) => `${c} ${n}`).join(', ');
    const minute = this.minute;
    this.seen.clear();
    this.codes.clear();
    this.written = 0;
    this.suppressed = 0;
    // The window is over for the admitted ones too: a new minute begins at the next refusal.
    this.minute = 0;
    if (count === 0) return;
    const scope = this.shared ? 'across the instances on this database' : 'on this instance';
    await this.write(
      boundAudit({
        at: Math.floor(minute / 1000),
        kind: SUPPRESSED_KIND,
        provider: '',
        issuer: '',
        outcome: 'suppressed',
        suppressed: count,
        message: `${count} refusal(s) of unverified tokens in the minute from ${new Date(minute).toISOString()} not audited one by one (at most one a minute per client address or IPv6 /64, and audit_unverified_per_minute in all, ${scope}): ${codes}`,
      }),
    );
  }
}
