// Fixed-window counters per client address: one for all exchange requests, one for refused ones. A client that
// floods garbage runs out of its failure budget and gets 429 before any verification work; other clients are
// unaffected. app.ts keys them by address.ts rateKey(): an IPv6 client by its /64, which one subscriber holds whole.
export class RateLimiter {
  private window = 0;
  private readonly counts = new Map<string, number>();

  constructor(private readonly windowMs: number = 60_000) {}

  /** Seconds until the window resets when `key` is over `limit` (0: no limit), else undefined. */
  check(key: string, limit: number, now: number = Date.now()): number | undefined {
    if (limit <= 0) return undefined;
    this.roll(now);
    if ((this.counts.get(key) ?? 0) >= limit)
      return Math.max(1, Math.ceil((this.window + this.windowMs - now) / 1000));
    return undefined;
  }

  add(key: string, now: number = Date.now()): void {
    this.roll(now);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private roll(now: number): void {
    const w = now - (now % this.windowMs);
    if (w !== this.window) {
      this.window = w;
      this.counts.clear();
    }
  }
}
