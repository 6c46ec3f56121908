// `npm run demo`: the main job on embedded defaults. On a fresh Debian machine it installs and starts what is
// missing (scripts/engine.sh up), starts the broker (examples/demo/broker.yml's trust relationships, a local OIDC
// issuer standing in for GitHub's) and the token-auth cache registry, runs the CI workflow twice through the real
// action bundles (setup, then build-push of examples/demo/app for linux/amd64 + linux/arm64: cold, then warm on a
// pruned builder), prints a report, and stops what it started.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { buildWorkflow, runSteps } from '../test/e2e/scenarios';
import {
  layerDigests,
  pruneBuilder,
  registryLogMark,
  registryPlatforms,
  startWorld,
  uploadedBlobs,
} from '../test/e2e/world';

const root = resolve(import.meta.dirname, '..');

function step(text: string): void {
  console.log(`\n== ${text}`);
}

async function main(): Promise<void> {
  step('engine: Docker Engine + buildx, QEMU arm64, local registry (scripts/engine.sh up)');
  const engine = join(root, 'scripts', 'engine.sh');
  const wasRunning = spawnSync('bash', [engine, 'status'], { stdio: 'ignore' }).status === 0;
  execFileSync('bash', [engine, 'up'], { stdio: 'inherit' });

  step('broker, cache registry and CLI release');
  const config = parse(readFileSync(join(root, 'examples', 'demo', 'broker.yml'), 'utf8')) as {
    projects: unknown;
  };
  const world = await startWorld(stringify(config.projects));
  console.log(
    `broker ${world.stack.brokerUrl}, cache registry ${world.stack.registryHost}, depot ${world.version}`,
  );
  try {
    const tag = `demo-${Date.now().toString(36)}`;
    // A fresh BUST build-arg and a pruned builder: nothing is cached anywhere for the first run.
    const inputs = { 'build-args': `BUST=${tag}` };
    step('workflow run 1: setup, then build-push (cold: pruned builder, empty project cache)');
    pruneBuilder();
    const cold = await buildWorkflow(world, { tag: `${tag}-cold`, inputs });
    if (cold.build.exitCode !== 0) throw new Error(`the build failed:\n${cold.job.output().slice(-3000)}`);

    step('workflow run 2: the same, on a pruned builder (the cache comes from the registry)');
    pruneBuilder();
    const mark = registryLogMark();
    const warm = await buildWorkflow(world, { tag: `${tag}-warm`, inputs });
    if (warm.build.exitCode !== 0) throw new Error(`the build failed:\n${warm.job.output().slice(-3000)}`);
    const steps = runSteps(warm.job.output());
    const layers = await layerDigests('demo/app', `${tag}-warm`);
    const reuploaded = uploadedBlobs('demo/app', mark).filter((d) => layers.includes(d)).length;

    const image = `127.0.0.1:5000/demo/app:${tag}-cold`;
    const leaks = [...cold.job.leakedSecrets(), ...warm.job.leakedSecrets()];
    step('report');
    const rows: Array<[string, string]> = [
      ['image', image],
      ['digest', cold.build.outputs.digest ?? '-'],
      ['platforms', (await registryPlatforms('demo/app', `${tag}-cold`)).join(', ')],
      ['project', cold.build.outputs['project-id'] ?? '-'],
      ['build ids', `${cold.build.outputs['build-id'] ?? '-'}, ${warm.build.outputs['build-id'] ?? '-'}`],
      ['cold build', `${(cold.durationMs / 1000).toFixed(1)} s`],
      ['warm build (pruned builder)', `${(warm.durationMs / 1000).toFixed(1)} s`],
      ['cache hits (warm)', `${steps.cached} RUN steps cached, ${steps.run} run`],
      ['layers uploaded again (warm)', `${reuploaded} of ${layers.length}`],
      ['secrets in logs', leaks.length === 0 ? 'none' : `${leaks.length} LEAKED`],
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(30)} ${v}`);
  } finally {
    await world.close();
    console.log('\nstopped the broker, the cache registry and the release server');
    if (!wasRunning) execFileSync('bash', [engine, 'down'], { stdio: 'inherit' });
  }
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
