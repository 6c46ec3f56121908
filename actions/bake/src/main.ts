// actions/bake: parse inputs, read the bake definition, resolve a project token, run `depot bake`, report.
// Post: remove temp files.
import { join } from 'node:path';
import * as core from '@actions/core';
import { depotArgs } from '../../../shared/depot-inputs';
import { errorMessage } from '../../../shared/errors';
import { exec } from '../../../shared/exec';
import { readMetadata } from '../../../shared/metadata';
import { run } from '../../../shared/runner';
import { cleanupStep, prepareStep, resolveAndRun, setOutputs } from '../../../shared/step';
import type { StepContext } from '../../../shared/step';
import { isolatedCell, writeSummary } from '../../../shared/summary';
import { getInputs, toArgs } from './inputs';
import type { BakeDefinition, Inputs } from './inputs';

async function main(): Promise<void> {
  const started = Date.now();
  const ctx = await prepareStep();
  const inputs = getInputs(ctx.github);
  const definition = await core.group('Bake definition', () => readDefinition(inputs, ctx));
  const metadataFile = join(ctx.tmp, 'metadata.json');
  const { buildxArgs, positional, env } = toArgs(inputs, {
    github: ctx.github,
    buildx: ctx.buildx,
    env: process.env,
    metadataFile,
    ...(definition ? { definition } : {}),
    warn: core.warning,
  });
  for (const value of Object.values(env)) core.setSecret(value);
  core.debug(`toArgs: ${JSON.stringify(buildxArgs)}`);
  const { resolution, result } = await resolveAndRun(inputs, ctx, {
    command: 'bake',
    buildxArgs,
    depotArgs: depotArgs(inputs),
    positional,
    cwd: inputs.workdir,
    env,
  });

  const metadata = readMetadata(metadataFile);
  const digests: Record<string, string> = {};
  for (const [target, m] of Object.entries(metadata?.targets ?? {})) if (m.digest) digests[target] = m.digest;
  await setOutputs({
    metadata: metadata?.raw,
    digests: JSON.stringify(digests),
    'build-id': metadata?.depot?.buildID,
    'project-id': metadata?.depot?.projectID,
  });
  const targets = Object.keys(definition?.target ?? digests);
  await writeSummary({
    heading: 'Depot bake',
    rows: [
      ['Project', metadata?.depot?.projectID ?? (result.via === 'buildx' ? 'none (plain buildx)' : 'none')],
      ['Build id', metadata?.depot?.buildID ?? '-'],
      ['Isolated', isolatedCell(resolution, metadata?.depot?.isolated)],
      ['Duration', `${((Date.now() - started) / 1000).toFixed(1)} s`],
      ['Built with', result.via === 'depot' ? 'depot' : 'docker buildx (fallback)'],
    ],
    tables: [
      {
        header: ['Target', 'Platforms', 'Tags', 'Digest'],
        rows: targets.map((t) => [
          t,
          definition?.target[t]?.platforms?.join(', ') || 'default',
          definition?.target[t]?.tags?.join(', ') || '-',
          digests[t] ?? '-',
        ]),
      },
    ],
  });
}

/**
 * The resolved definition (`docker buildx bake --print`), for the default provenance and the summary. Reading it
 * is best effort: when it fails, the build itself reports the real error.
 */
async function readDefinition(inputs: Inputs, ctx: StepContext): Promise<BakeDefinition | undefined> {
  const args = ['buildx', 'bake', ...(inputs.source ? [inputs.source] : [])];
  for (const f of inputs.files) args.push('--file', f);
  for (const s of inputs.set) args.push('--set', s);
  if (inputs.load) args.push('--load');
  if (inputs.push) args.push('--push');
  args.push('--print', ...inputs.targets);
  try {
    const res = await exec('docker', args, { cwd: inputs.workdir, silent: true, captureStdout: true });
    if (res.exitCode !== 0) {
      core.warning(
        `Could not read the bake definition: ${res.lastStderrLine || `exit code ${res.exitCode}`}`,
      );
      return undefined;
    }
    const parsed = JSON.parse(res.stdout) as BakeDefinition;
    core.info(
      `Targets: ${Object.keys(parsed.target ?? {}).join(', ') || 'none'} (buildx ${ctx.buildx.version ?? '?'})`,
    );
    return parsed.target ? parsed : undefined;
  } catch (err: unknown) {
    core.warning(`Could not read the bake definition: ${errorMessage(err)}`);
    return undefined;
  }
}

void run(main, cleanupStep);
