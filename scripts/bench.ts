// `npm run bench`: figures, not pass/fail. Prints
//  1. each action's overhead from process start to the CLI's exec (a stand-in CLI that records the time and exits),
//  2. actions/setup with a warm tool cache and an exact version (no network),
//  3. cold vs warm build time of examples/demo/app (linux/amd64 + linux/arm64) through the suite (setup +
//     build-push, project cache in the token-auth registry) vs bare `docker buildx build` with the same registry
//     cache, on a pruned builder each time.
// Medians of several runs. `--quick` skips part 3.
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Job, ROOT } from '../test/support/runner';
import { buildWorkflow, newJob } from '../test/e2e/scenarios';
import { DEMO, pruneBuilder, startWorld } from '../test/e2e/world';

const root = resolve(import.meta.dirname, '..');
const STANDINS = join(root, 'test', 'support', 'standins');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

async function actionOverhead(action: string, inputs: Record<string, string>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const job = new Job({ env: { DEPOT_TOKEN: 'bench-token', STANDIN_BAKE_TARGETS: 'app' } });
    const record = join(job.root, 'record.jsonl');
    job.exported.STANDIN_RECORD = record;
    job.paths.push(STANDINS);
    const started = Date.now();
    const r = await job.step(join(ROOT, 'actions', action), { inputs });
    if (r.exitCode !== 0) throw new Error(`${action} failed in the overhead bench:\n${r.stdout}${r.stderr}`);
    const first = JSON.parse(readFileSync(record, 'utf8').split('\n')[0] as string) as { at: number };
    times.push(first.at - started);
    job.cleanup();
  }
  return median(times);
}

async function main(): Promise<void> {
  console.log(`bench on ${cpus().length} cores, ${RUNS} runs each, medians`);
  console.log('\n1. action overhead, process start to the CLI exec');
  console.log(`  build-push  ${fmt(await actionOverhead('build-push', { context: DEMO, tags: 'x/app:1' }))}`);
  console.log(
    `  bake        ${fmt(await actionOverhead('bake', { source: '.', workdir: DEMO, targets: 'app' }))}`,
  );
  if (process.argv.includes('--quick')) return;

  const world = await startWorld();
  try {
    console.log('\n2. actions/setup, warm tool cache, exact version');
    const toolCache = mkdtempSync(join(tmpdir(), 'bench-tc-'));
    const warmSetup: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      const job = newJob(world, { toolCache });
      const started = Date.now();
      const r = await job.step(join(ROOT, 'actions', 'setup'), {
        inputs: { version: world.version, 'manifest-url': `${world.release.url}/manifest.json` },
      });
      if (r.exitCode !== 0) throw new Error(`setup failed:\n${r.stdout}`);
      if (i > 0) warmSetup.push(Date.now() - started); // the first run fills the cache
    }
    console.log(`  setup (warm)  ${fmt(median(warmSetup))}`);

    console.log('\n3. examples/demo/app, linux/amd64 + linux/arm64, pruned builder each run');
    const suite = { cold: [] as number[], warm: [] as number[] };
    const bare = { cold: [] as number[], warm: [] as number[] };
    for (let i = 0; i < Math.min(RUNS, 3); i++) {
      const bust = `${Date.now()}`;
      for (const kind of ['cold', 'warm'] as const) {
        pruneBuilder();
        const r = await buildWorkflow(world, {
          tag: `bench-${bust}-${kind}`,
          inputs: { 'build-args': `BUST=${bust}` },
        });
        if (r.build.exitCode !== 0) throw new Error(`build failed:\n${r.job.output().slice(-2000)}`);
        suite[kind].push(r.durationMs);
      }
      const ref = `type=registry,ref=127.0.0.1:5000/bench/cache:${bust}`;
      for (const kind of ['cold', 'warm'] as const) {
        pruneBuilder();
        const started = Date.now();
        execFileSync(
          'docker',
          [
            'buildx',
            'build',
            '--platform',
            'linux/amd64,linux/arm64',
            '--build-arg',
            `BUST=${bust}b`,
            '--cache-from',
            ref,
            '--cache-to',
            `${ref},mode=max`,
            '--push',
            '-t',
            `127.0.0.1:5000/bench/app:${bust}-${kind}`,
            join(DEMO, 'app'),
          ],
          { stdio: 'ignore' },
        );
        bare[kind].push(Date.now() - started);
      }
    }
    console.log(`  through the suite   cold ${fmt(median(suite.cold))}   warm ${fmt(median(suite.warm))}`);
    console.log(`  bare buildx         cold ${fmt(median(bare.cold))}   warm ${fmt(median(bare.warm))}`);
  } finally {
    await world.close();
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
