// `npm run bench`: figures, not pass/fail (issue 27). On the real engine, broker and token-auth cache registry
// (test/e2e/world.ts), with the action bundles and the CLI release built fresh from the sources (bundles.ts), it
// prints
//  1. the machine (cores, load before and after) and the floor: one Node start (`node -e 0`, the node24 actions run);
//  2. actions/setup with a warm tool cache: time, requests to the release server, its spans;
//  3. for each project (examples/demo/app, busybox; examples/bench/native, a realistic multi-stage build), a warm
//     two-platform rebuild (builder pruned, cache from the registry) in three columns from one run, interleaved:
//       bare    `docker buildx build` with the same kind of registry cache,
//       docker  docker/build-push-action (../shared/anchors) through test/support/runner.ts, main + post,
//       ours    setup + build-push main + post,
//     bare and docker given a DOCKER_CONFIG holding the same project token (the same registry auth), all three the
//     same DOCKER_BUILD_SUMMARY / DOCKER_BUILD_RECORD_UPLOAD; then the ratios (suite / bare, our overhead / docker's)
//     and the breakdown of our warm run from DEPOT_TRACE spans (shared/trace.ts) with the registry token requests
//     the broker answered in each window.
// Medians of BENCH_RUNS (default 5) warm runs after one cold run per column. `--quick`: part 1 and 2 only;
// `--project demo|native`: one project.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readProjectToken } from '../cli/src/token';
import { readTrace } from '../shared/trace';
import type { TraceSpan } from '../shared/trace';
import { prepareBundles } from '../test/support/bundles';
import { Job, NODE24, ROOT } from '../test/support/runner';
import { MONOREPO_ACTIONS, newJob } from '../test/e2e/scenarios';
import { DEMO, pruneBuilder, pushClaims, startWorld } from '../test/e2e/world';
import type { World } from '../test/e2e/world';
import { servePackages } from './bench-packages';

const execFileAsync = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ANCHOR = resolve(ROOT, '..', 'shared', 'anchors', 'docker-build-push-action');
const NATIVE = join(ROOT, 'examples', 'bench', 'native');
const PLATFORMS = 'linux/amd64,linux/arm64';
/** The same for every column: a summary (the default) and no record upload (the bench job has no Actions runtime). */
const SETTINGS = { DOCKER_BUILD_SUMMARY: 'true', DOCKER_BUILD_RECORD_UPLOAD: 'false' };

const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (ms: number): string =>
  Number.isNaN(ms) ? '-' : Math.abs(ms) >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
const pad = (s: string, n: number): string => s.padEnd(n);
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function nodeFloor(): number {
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    execFileSync(NODE24, ['-e', '0']);
    times.push(performance.now() - t);
  }
  return median(times);
}

interface Project {
  name: string;
  /** The build context. */
  context: string;
  /** The plain-registry repository the image is pushed to. */
  image: string;
  buildArgs: Record<string, string>;
}

interface ColumnRun {
  ms: number;
  /** Registry tokens the broker issued in the run's window. */
  tokens: number;
  spans?: TraceSpan[];
  /** Wall time of each runner step of the job, by `<action> <phase>`. */
  steps?: Record<string, number>;
}

/** `"msg":"registry token issued"` lines of the broker's log, with their times. */
function tokenTimes(world: World): number[] {
  const times: number[] = [];
  for (const m of world.stack.brokerLog().matchAll(/\{[^\n]*"registry token issued"[^\n]*\}/g)) {
    const t = /"time":"?([^",}]+)/.exec(m[0]);
    const at = t?.[1] ? (/^\d+$/.test(t[1]) ? Number(t[1]) : Date.parse(t[1])) : NaN;
    if (!Number.isNaN(at)) times.push(at);
  }
  return times;
}

function tokensBetween(world: World, from: number, to: number): number {
  return tokenTimes(world).filter((t) => t >= from && t <= to).length;
}

function dockerConfigWith(dir: string, registryHost: string, token: string): void {
  const auth = Buffer.from(`depot:${token}`).toString('base64');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [registryHost]: { auth } } }), {
    mode: 0o600,
  });
}

function buildArgList(p: Project): string[] {
  return Object.entries(p.buildArgs).map(([k, v]) => `${k}=${v}`);
}

async function bare(
  world: World,
  p: Project,
  cacheRef: string,
  tag: string,
  token: string,
): Promise<ColumnRun> {
  const config = mkdtempSync(join(tmpdir(), 'bench-bare-'));
  dockerConfigWith(config, world.stack.registryHost, token);
  const args = ['buildx', 'build', '--platform', PLATFORMS];
  for (const a of buildArgList(p)) args.push('--build-arg', a);
  args.push(
    '--cache-from',
    `type=registry,ref=${cacheRef}`,
    '--cache-to',
    `type=registry,ref=${cacheRef},mode=max,ignore-error=true`,
    '--push',
    '-t',
    `${p.image}:${tag}`,
    p.context,
  );
  const started = Date.now();
  try {
    // Not execFileSync: the package registry the native build fetches from is served by this process.
    await execFileAsync('docker', args, {
      env: { ...process.env, ...SETTINGS, DOCKER_CONFIG: config },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err: unknown) {
    const e = err as { stderr?: string };
    throw new Error(`bare buildx failed:\n${(e.stderr ?? String(err)).slice(-2000)}`);
  } finally {
    rmSync(config, { recursive: true, force: true });
  }
  const ended = Date.now();
  return { ms: ended - started, tokens: tokensBetween(world, started, ended) };
}

async function timedSteps(job: Job, steps: Array<[string, () => Promise<{ exitCode: number }>]>) {
  const times: Record<string, number> = {};
  for (const [name, step] of steps) {
    const t = Date.now();
    const r = await step();
    times[name] = Date.now() - t;
    if (r.exitCode !== 0) throw new Error(`${name} failed:\n${job.output().slice(-3000)}`);
  }
  const t = Date.now();
  const posts = await job.finish();
  times.post = Date.now() - t;
  for (const r of posts) if (r.exitCode !== 0) throw new Error(`post failed:\n${job.output().slice(-3000)}`);
  return times;
}

async function dockerAction(
  world: World,
  p: Project,
  cacheRef: string,
  tag: string,
  token: string,
): Promise<ColumnRun> {
  const job = new Job({ env: { ...SETTINGS }, ownDockerConfig: true });
  dockerConfigWith(job.dockerConfig as string, world.stack.registryHost, token);
  const started = Date.now();
  try {
    const steps = await timedSteps(job, [
      [
        'docker main',
        () =>
          job.step(ANCHOR, {
            inputs: {
              context: p.context,
              platforms: PLATFORMS,
              push: 'true',
              tags: `${p.image}:${tag}`,
              'build-args': buildArgList(p).join('\n'),
              'cache-from': `type=registry,ref=${cacheRef}`,
              'cache-to': `type=registry,ref=${cacheRef},mode=max,ignore-error=true`,
            },
          }),
      ],
    ]);
    const ended = Date.now();
    return { ms: ended - started, tokens: tokensBetween(world, started, ended), steps };
  } finally {
    job.cleanup();
  }
}

async function ours(
  world: World,
  p: Project,
  cacheKey: string,
  tag: string,
  toolCache: string,
): Promise<ColumnRun> {
  const job = newJob(world, { toolCache, ownDockerConfig: true });
  const trace = join(job.root, 'trace.jsonl');
  writeFileSync(trace, '');
  Object.assign(job.exported, SETTINGS, { DEPOT_TRACE: trace });
  const started = Date.now();
  try {
    const steps = await timedSteps(job, [
      [
        'setup main',
        () =>
          job.step(MONOREPO_ACTIONS.setup, {
            inputs: { version: world.version, 'manifest-url': `${world.release.url}/manifest.json` },
          }),
      ],
      [
        'build-push main',
        () =>
          job.step(MONOREPO_ACTIONS.buildPush, {
            inputs: {
              context: p.context,
              platforms: PLATFORMS,
              push: 'true',
              tags: `${p.image}:${tag}`,
              'build-args': buildArgList(p).join('\n'),
              project: 'demo',
              'cache-key': cacheKey,
            },
          }),
      ],
    ]);
    const ended = Date.now();
    return {
      ms: ended - started,
      tokens: tokensBetween(world, started, ended),
      spans: readTrace(readFileSync(trace, 'utf8')),
      steps,
    };
  } finally {
    job.cleanup();
  }
}

/** The spans of one of our runs as `<proc>: <name>` -> ms (the first of each). */
function spanTable(spans: TraceSpan[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of spans) {
    const key = `${s.proc}: ${s.name}`;
    if (!out.has(key)) out.set(key, s.end - s.start);
  }
  return out;
}

function span(spans: TraceSpan[], proc: string, name: string): TraceSpan | undefined {
  return spans.find((s) => s.proc === proc && s.name === name);
}

/** The breakdown of one warm run of ours: each step's wall time split into its spans, and the registry tokens. */
function breakdown(world: World, run: ColumnRun): Array<[string, number]> {
  const spans = run.spans ?? [];
  const steps = run.steps ?? {};
  const d = (s?: TraceSpan) => (s ? s.end - s.start : 0);
  const rows: Array<[string, number]> = [];
  const step = (label: string, wall: number | undefined, proc: string, children: string[]) => {
    const start = span(spans, proc, 'node start + bundle load');
    const main = span(spans, proc, proc.endsWith('post') ? 'post' : 'main');
    rows.push([`${label} (runner step, wall)`, wall ?? NaN]);
    rows.push([`  node start + bundle load`, d(start)]);
    let inner = 0;
    for (const c of children) {
      const v = d(span(spans, proc, c));
      inner += v;
      rows.push([`  ${c}`, v]);
    }
    rows.push([`  rest of ${proc.endsWith('post') ? 'post' : 'main'}`, d(main) - inner]);
    rows.push([`  process spawn/exit, runner files`, (wall ?? 0) - d(start) - d(main)]);
  };
  step('setup main', steps['setup main'], 'setup main', ['install (tool cache)']);
  step('build-push main', steps['build-push main'], 'build-push main', [
    'docker info + buildx inspect',
    'project token',
    'cache probe',
    'depot build',
  ]);
  const cliStart = span(spans, 'cli build', 'node start + bundle load');
  const session = span(spans, 'cli build', 'session');
  const probe = span(spans, 'cli build', 'cache probe');
  const builder = span(spans, 'cli build', 'builder probe');
  const buildx = span(spans, 'cli build', 'buildx build');
  const depotBuild = span(spans, 'build-push main', 'depot build');
  rows.push(['    in depot build: CLI node start + bundle load', d(cliStart)]);
  rows.push(['    session (token, cache probe, docker config)', d(session)]);
  rows.push(['      of which cache probe (0 when the action probed)', d(probe)]);
  rows.push(['        GET /v2/', d(span(spans, 'cli build', 'GET /v2/'))]);
  rows.push(['        registry token', d(span(spans, 'cli build', 'registry token'))]);
  rows.push(['    builder probe (0 when the action handed its facts over)', d(builder)]);
  rows.push(['    buildx version (0 when handed over)', d(span(spans, 'cli build', 'buildx version'))]);
  rows.push(['    buildx build', d(buildx)]);
  rows.push([
    '    rest (spawn, exit, cleanups)',
    d(depotBuild) -
      d(cliStart) -
      d(session) -
      d(builder) -
      d(buildx) -
      d(span(spans, 'cli build', 'buildx version')),
  ]);
  step('post', steps.post, 'build-push post', ['summary and record', 'cleanup']);
  const inBuild = buildx ? tokensBetween(world, buildx.start, buildx.end) : 0;
  rows.push([`registry tokens issued: ${run.tokens} (${inBuild} during buildx build)`, NaN]);
  return rows;
}

async function benchProject(world: World, p: Project, toolCache: string, token: string): Promise<void> {
  const stamp = `${Date.now()}`;
  const cacheRepo = cacheRepository(token);
  const columns = {
    bare: (i: number) => bare(world, p, `${cacheRepo}:bench-bare-${p.name}-${stamp}`, `bare-${i}`, token),
    docker: (i: number) =>
      dockerAction(world, p, `${cacheRepo}:bench-docker-${p.name}-${stamp}`, `docker-${i}`, token),
    ours: (i: number) => ours(world, p, `bench-ours-${p.name}-${stamp}`, `ours-${i}`, toolCache),
  };
  type Col = keyof typeof columns;
  const names: Col[] = ['bare', 'docker', 'ours'];
  const runs: Record<Col, ColumnRun[]> = { bare: [], docker: [], ours: [] };
  const cold: Partial<Record<Col, number>> = {};
  for (let i = 0; i <= RUNS; i++) {
    // Rotate the order so the machine's load falls on each column alike.
    const order = names.map((_, j) => names[(i + j) % names.length] as Col);
    for (const c of order) {
      pruneBuilder();
      const r = await columns[c](i);
      if (i === 0) cold[c] = r.ms;
      else runs[c].push(r);
    }
  }
  const med = (c: Col) => median(runs[c].map((r) => r.ms));
  const tokens = (c: Col) => median(runs[c].map((r) => r.tokens));
  console.log(
    `\n${p.name}: ${p.context.replace(`${ROOT}/`, '')}, ${PLATFORMS}, builder pruned before each run`,
  );
  console.log(`  ${pad('', 10)}${pad('cold', 10)}${pad('warm', 10)}registry tokens (warm)`);
  for (const c of names)
    console.log(`  ${pad(c, 10)}${pad(fmt(cold[c] ?? NaN), 10)}${pad(fmt(med(c)), 10)}${tokens(c)}`);
  // Paired per round: each round's overhead against that round's bare build.
  const over = (c: Col) => median(runs[c].map((r, i) => r.ms - (runs.bare[i]?.ms ?? NaN)));
  console.log(
    `  suite / bare ${(med('ours') / med('bare')).toFixed(2)}x   docker action / bare ${(med('docker') / med('bare')).toFixed(2)}x`,
  );
  console.log(
    `  overhead over bare (paired medians): ours ${fmt(over('ours'))}, docker's ${fmt(over('docker'))}: ours / docker's ${(over('ours') / over('docker')).toFixed(2)}x`,
  );
  const stepTimes = (c: Col) => {
    const keys = Object.keys(runs[c][0]?.steps ?? {});
    return keys.map((k) => `${k} ${fmt(median(runs[c].map((r) => r.steps?.[k] ?? NaN)))}`).join(', ');
  };
  console.log(`  runner steps, warm: docker: ${stepTimes('docker')}; ours: ${stepTimes('ours')}`);
  // The breakdown: the median of each row over the warm runs of ours.
  const tables = runs.ours.map((r) => breakdown(world, r));
  const first = tables[0] ?? [];
  console.log(`  breakdown of ours, warm (medians of ${tables.length} runs):`);
  for (const [i, [label]] of first.entries()) {
    const v = median(tables.map((t) => t[i]?.[1] ?? NaN).filter((x) => !Number.isNaN(x)));
    console.log(`    ${pad(label, 56)}${Number.isNaN(v) ? '' : fmt(v)}`);
  }
}

/** The cache registry and repository the project token names (read as the CLI reads it). */
function cacheRepository(token: string): string {
  const cache = readProjectToken(token).cache;
  if (!cache) throw new Error('the project token names no cache repository');
  return `${cache.host}/${cache.repository}`;
}

async function warmSetup(world: World, toolCache: string): Promise<void> {
  const times: number[] = [];
  const spans: Array<Map<string, number>> = [];
  let requests = 0;
  for (let i = 0; i <= RUNS; i++) {
    const job = newJob(world, { toolCache });
    const trace = join(job.root, 'trace.jsonl');
    job.exported.DEPOT_TRACE = trace;
    const before = world.release.requests.length;
    const started = performance.now();
    const r = await job.step(MONOREPO_ACTIONS.setup, {
      inputs: { version: world.version, 'manifest-url': `${world.release.url}/manifest.json` },
    });
    const ms = performance.now() - started;
    if (r.exitCode !== 0) throw new Error(`setup failed:\n${r.stdout}`);
    if (i > 0) {
      // the first run fills the cache
      times.push(ms);
      requests += world.release.requests.length - before;
      spans.push(spanTable(readTrace(readFileSync(trace, 'utf8'))));
    }
    job.cleanup();
  }
  console.log(
    `\nactions/setup, warm tool cache, exact version: ${fmt(median(times))} (runner step, wall), ${requests} requests to the release server in ${times.length} runs`,
  );
  for (const key of spans[0]?.keys() ?? [])
    console.log(`    ${pad(key, 56)}${fmt(median(spans.map((s) => s.get(key) ?? NaN)))}`);
}

/** The native project's base: the engine's Debian (scripts/debian-base.sh) when the local registry has it, else busybox. */
async function nativeBase(): Promise<string> {
  const debian = '127.0.0.1:5000/debian-base:bookworm';
  const r = await fetch('http://127.0.0.1:5000/v2/debian-base/manifests/bookworm', {
    method: 'HEAD',
    headers: {
      accept:
        'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json',
    },
  }).catch(() => undefined);
  return r?.ok ? debian : '127.0.0.1:5000/busybox:latest';
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const only = argv.includes('--project') ? argv[argv.indexOf('--project') + 1] : undefined;
  console.log(
    `bench on ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${load()}, ${RUNS} warm runs each`,
  );
  console.log(
    `floor: one Node start (node24, \`node -e 0\`) ${fmt(nodeFloor())}; a workflow with setup + build-push starts Node 4 times (setup main, build-push main, post, the CLI)`,
  );
  // Fresh bundles of the sources (bundles.ts), built before anything is timed.
  prepareBundles(['setup', 'build-push', 'cli']);
  const world = await startWorld();
  const toolCache = mkdtempSync(join(tmpdir(), 'bench-tc-'));
  const packages = await servePackages(join(NATIVE, 'packages'));
  try {
    await warmSetup(world, toolCache);
    if (argv.includes('--quick')) return;
    const token = await world.stack.projectToken(pushClaims(), 'demo');
    const base = await nativeBase();
    console.log(`native project base: ${base}`);
    const projects: Project[] = [
      { name: 'demo', context: join(DEMO, 'app'), image: '127.0.0.1:5000/bench/demo', buildArgs: {} },
      {
        name: 'native',
        context: NATIVE,
        image: '127.0.0.1:5000/bench/native',
        buildArgs: { REGISTRY: packages.url, BASE: base },
      },
    ];
    for (const p of projects) if (!only || only === p.name) await benchProject(world, p, toolCache, token);
    console.log(`\nload after: ${load()}`);
  } finally {
    await packages.close();
    await world.close();
    rmSync(toolCache, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
