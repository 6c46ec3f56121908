// actions/build-push: parse inputs, resolve a project token, run `depot build`, report. Post: remove temp files.
import { join } from 'node:path';
import * as core from '@actions/core';
import { buildPlatformNote, inspectBuilder } from '../../../shared/buildx';
import { depotArgs } from '../../../shared/depot-inputs';
import { readImageId, readMetadata } from '../../../shared/metadata';
import { run } from '../../../shared/runner';
import { cleanupStep, prepareStep, resolveAndRun, setOutputs } from '../../../shared/step';
import type { BuildRun } from '../../../shared/step';
import { isolatedCell, writeSummary } from '../../../shared/summary';
import { writeSecretFile } from '../../../shared/tempdir';
import { getInputs, toArgs } from './inputs';

async function main(): Promise<void> {
  const started = Date.now();
  const inputs = getInputs();
  const ctx = await prepareStep();
  const iidFile = join(ctx.tmp, 'iidfile');
  const metadataFile = join(ctx.tmp, 'metadata.json');
  const builder = await core.group('Builder info', async () => {
    const info = await inspectBuilder(inputs.builder, { log: core.info });
    if (info) core.info(JSON.stringify(info));
    return info;
  });
  const { buildxArgs, context } = toArgs(inputs, {
    github: ctx.github,
    buildx: ctx.buildx,
    ...(builder ? { builder } : {}),
    env: process.env,
    warn: core.warning,
    writeSecret: (value) => writeSecretFile(ctx.tmp, value),
    iidFile,
    metadataFile,
  });
  core.debug(`toArgs: ${JSON.stringify(buildxArgs)}`);
  const note = buildPlatformNote(inputs['build-platform']);
  if (note) core.info(note);
  // A failed build still sets the outputs from whatever it wrote (the image id, the metadata with the depot build
  // id), as docker's action does; then the step fails with the build's error.
  let built: BuildRun | undefined;
  let failure: unknown;
  try {
    built = await resolveAndRun(inputs, ctx, {
      command: 'build',
      buildxArgs,
      depotArgs: depotArgs(inputs),
      positional: [context],
    });
  } catch (err: unknown) {
    failure = err;
  }

  const metadata = readMetadata(metadataFile);
  await setOutputs({
    imageid: readImageId(iidFile),
    digest: metadata?.digest,
    metadata: metadata?.raw,
    'build-id': metadata?.depot?.buildID,
    'project-id': metadata?.depot?.projectID,
  });
  if (!built) throw failure;
  const { resolution, result } = built;
  await writeSummary({
    heading: 'Depot build',
    rows: [
      ['Project', metadata?.depot?.projectID ?? (result.via === 'buildx' ? 'none (plain buildx)' : 'none')],
      ['Build id', metadata?.depot?.buildID ?? '-'],
      ['Isolated', isolatedCell(resolution, metadata?.depot?.isolated)],
      ['Platforms', inputs.platforms.join(', ') || 'default'],
      ['Tags', inputs.tags.join(', ') || '-'],
      ['Digest', metadata?.digest ?? '-'],
      ['Duration', `${((Date.now() - started) / 1000).toFixed(1)} s`],
      ['Built with', result.via === 'depot' ? 'depot' : 'docker buildx (fallback)'],
    ],
  });
}

void run(main, cleanupStep);
