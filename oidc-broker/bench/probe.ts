// Where one exchange's time goes, for `npm run bench:broker -- --profile`: timing counters installed in a bench
// broker instance (instance.ts, only when BENCH_PROBE=1: without it nothing here is loaded or wrapped) and a
// categoriser of a V8 CPU profile of that instance by what the code is (HTTP, JSON, crypto, store, ...).
//
// Counters are wall times from call to settle, summed, with their p50 and p99: WebCrypto sign/verify (jose's, on
// libuv's thread pool, so the main thread's CPU profile misses them: the first token of each issuer key, refusals,
// registry tokens), the crypto thread's sign/verify (crypto-thread.ts: the exchange's RS256 check of the CI token on a
// vetted key and its ES256 signature of the project token, handed to its worker: wall time to the answer) and
// node:crypto's synchronous sign/verify on the main thread (what the crypto thread runs inline: one core,
// BROKER_CRYPTO_THREAD=0, a lost worker's operations), the store's useJti (the single-use commit the answer waits for)
// and audit (not waited for), JSON.parse and JSON.stringify (every caller in the process, pino's too), and each HTTP
// request from the server's 'request' event to the response's 'finish'.
import nodeCrypto from 'node:crypto';
import type { Server } from 'node:http';
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { RecordableHistogram } from 'node:perf_hooks';
import { cryptoThread } from '../src/crypto-thread';
import { syncBuiltinESMExports } from 'node:module';
import type { Store } from '../src/store/types';

export interface Counter {
  n: number;
  ms: number;
  /** Its calls' median and 99th percentile, milliseconds (set by take()). */
  p50?: number;
  p99?: number;
}

export type Counters = Record<string, Counter>;

export interface Timing {
  counters: Counters;
  /** Process CPU over the window, milliseconds (every thread: the thread pool's crypto too). */
  cpuUserMs: number;
  cpuSystemMs: number;
  /** The main thread's event-loop utilisation over the window, 0..1. */
  elu: number;
  /** How late the event loop ran a timer due every LOOP_DELAY_MS over the window (monitorEventLoopDelay, its period
   * taken off), milliseconds: what a request that arrives while it is busy waits before it is read. */
  loopDelay: { p50: number; p99: number; max: number };
  wallMs: number;
}

/** The period of the event-loop delay's timer: its readings are this much more than the delay. */
const LOOP_DELAY_MS = 1;

export class Probe {
  private counters: Counters = {};
  /** Per counter: its calls' times, microseconds (percentiles of a wall time, as the mean beside them). */
  private histograms = new Map<string, RecordableHistogram>();
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_MS });
  private cpu = process.cpuUsage();
  private elu = performance.eventLoopUtilization();
  private since = performance.now();

  constructor() {
    this.loopDelay.enable();
  }

  add(name: string, ms: number): void {
    const c = (this.counters[name] ??= { n: 0, ms: 0 });
    c.n++;
    c.ms += ms;
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = createHistogram()));
    h.record(Math.max(1, Math.round(ms * 1000)));
  }

  /** Wraps an async method of `target` so each call's time to settle is counted under `name`. */
  timeAsync<T extends object, K extends keyof T>(target: T, key: K, name: (args: unknown[]) => string): void {
    const original = target[key];
    if (typeof original !== 'function') throw new Error(`probe: ${String(key)} is not a function`);
    const fn = original as (...args: unknown[]) => Promise<unknown>;
    const add = (n: string, ms: number) => this.add(n, ms);
    const wrapped = function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const start = performance.now();
      const done = () => add(name(args), performance.now() - start);
      const result = fn.apply(this, args);
      result.then(done, done);
      return result;
    };
    target[key] = wrapped as T[K];
  }

  /** Wraps a synchronous function of `target`. */
  timeSync<T extends object, K extends keyof T>(target: T, key: K, name: string): void {
    const original = target[key];
    if (typeof original !== 'function') throw new Error(`probe: ${String(key)} is not a function`);
    const fn = original as (...args: unknown[]) => unknown;
    const add = (ms: number) => this.add(name, ms);
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      const start = performance.now();
      try {
        return fn.apply(this, args);
      } finally {
        add(performance.now() - start);
      }
    };
    target[key] = wrapped as T[K];
  }

  /** WebCrypto, the crypto thread, node:crypto's sign/verify and JSON, process-wide: installed before the broker
   * loads. */
  installGlobal(): void {
    const algorithm = (args: unknown[]): string => {
      const a = args[0];
      const name = typeof a === 'string' ? a : ((a as { name?: string } | undefined)?.name ?? '?');
      return name;
    };
    this.timeAsync(crypto.subtle, 'verify', (args) => `WebCrypto verify (${algorithm(args)})`);
    this.timeAsync(crypto.subtle, 'sign', (args) => `WebCrypto sign (${algorithm(args)})`);
    // verify.ts and mint.ts hand their operations to the crypto thread; what it runs inline calls node:crypto's
    // synchronous sign/verify (imported by name: the ESM bindings follow the module object after
    // syncBuiltinESMExports).
    this.timeAsync(cryptoThread, 'verify', () => 'crypto thread verify (handed over, to the answer)');
    this.timeAsync(cryptoThread, 'sign', () => 'crypto thread sign (handed over, to the answer)');
    this.timeSync(nodeCrypto, 'verify', 'node:crypto verify (main thread)');
    this.timeSync(nodeCrypto, 'sign', 'node:crypto sign (main thread)');
    syncBuiltinESMExports();
    this.timeSync(JSON, 'parse', 'JSON.parse');
    this.timeSync(JSON, 'stringify', 'JSON.stringify');
  }

  installStore(store: Store): void {
    this.timeAsync(store, 'useJti', () => 'store useJti (commit awaited)');
    this.timeAsync(store, 'audit', () => 'store audit (not awaited)');
    // SQLite's BEGIN IMMEDIATE / COMMIT run synchronously on the main thread; COMMIT holds the fsync (synchronous =
    // FULL). The connection is private to the store: reached here, for the bench only.
    const db = (store as unknown as { db?: { exec?: unknown } }).db;
    if (store.engine === 'sqlite' && db && typeof db.exec === 'function') {
      this.timeSync(db, 'exec', 'SQLite exec, main thread (BEGIN / COMMIT with its fsync)');
    }
  }

  installServer(server: Server): void {
    server.prependListener('request', (_req, res) => {
      const start = performance.now();
      res.once('finish', () => this.add('HTTP request to response finish', performance.now() - start));
    });
  }

  /** The counters since the last take, and a fresh window. */
  take(): Timing {
    const cpu = process.cpuUsage(this.cpu);
    const elu = performance.eventLoopUtilization(this.elu);
    for (const [name, h] of this.histograms) {
      const c = this.counters[name];
      if (c) {
        c.p50 = h.percentile(50) / 1000;
        c.p99 = h.percentile(99) / 1000;
      }
    }
    const late = (ns: number) => Math.max(0, ns / 1e6 - LOOP_DELAY_MS);
    const timing: Timing = {
      counters: this.counters,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      elu: elu.utilization,
      loopDelay: {
        p50: late(this.loopDelay.percentile(50)),
        p99: late(this.loopDelay.percentile(99)),
        max: late(this.loopDelay.max),
      },
      wallMs: performance.now() - this.since,
    };
    this.counters = {};
    this.histograms = new Map();
    this.loopDelay.reset();
    this.cpu = process.cpuUsage();
    this.elu = performance.eventLoopUtilization();
    this.since = performance.now();
    return timing;
  }
}

/** The V8 CPU profile shape (node:inspector Profiler.stop). */
export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string };
    children?: number[];
  }>;
  samples?: number[];
  timeDeltas?: number[];
}

/** The profiler's own work (Profiler.stop serialising the profile): not the broker's, left out of the shares. */
export const PROFILER = 'the profiler itself';

const CATEGORIES: Array<[string, RegExp]> = [
  [PROFILER, /^node:inspector/],
  [
    'store (SQLite / PostgreSQL driver and store code)',
    /better-sqlite3|node:sqlite|\/store\/|\/pg\/|pg-protocol|pg-pool/,
  ],
  ['crypto (jose, node:crypto)', /\/jose\/|node:internal\/crypto/],
  ['logging (pino)', /pino|sonic-boom/],
  ['metrics (prom-client)', /prom-client/],
  [
    'HTTP (node:http, net, streams, hono, @hono/node-server)',
    /node:_http|node:http|node:net|node:internal\/(http|stream|streams|net)|node:stream|hono/,
  ],
  ['broker code (exchange, verify, policy, mint, app)', /oidc-broker\/src\//],
];

function categoryOf(frame: { functionName: string; url: string }): string | undefined {
  if (frame.functionName === '(idle)') return 'idle';
  if (frame.functionName === '(garbage collector)') return 'garbage collector';
  if (frame.functionName === '(program)') return 'native, not attributed ((program))';
  if (frame.functionName === '(root)') return 'other';
  if (/^(JSON\.)?(parse|stringify)$/.test(frame.functionName) && frame.url === '') return 'JSON';
  // A native or builtin function, or the probe's own wrappers: its caller's category.
  if (frame.url === '' || frame.url.includes('/bench/probe.ts')) return undefined;
  for (const [name, re] of CATEGORIES) if (re.test(frame.url)) return name;
  return 'other (node internals, timers, promises)';
}

/** Self time per category, milliseconds; a frame with no script inherits its caller's category. */
export function categorise(profile: CpuProfile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const category = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    let cat = node ? categoryOf(node.callFrame) : 'other';
    if (cat === undefined) {
      const up = parent.get(id);
      cat = up === undefined ? 'other' : category(up);
    }
    memo.set(id, cat);
    return cat;
  };
  const totals = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const cat = category(samples[i] ?? 0);
    totals.set(cat, (totals.get(cat) ?? 0) + (deltas[i] ?? 0) / 1000);
  }
  return totals;
}
