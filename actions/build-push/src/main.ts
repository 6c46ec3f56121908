// actions/build-push: parse inputs, resolve a project token, run `depot build`, set the outputs and save the report.
// Post: the build record and the job summary, then remove temp files.
import { join } from 'node:path';
import * as core from '@actions/core';
import { buildPlatformNote } from '../../../shared/buildx';
import { buildRefs, historySupport, uploadBuildRecord } from '../../../shared/build-record';
import { BUILD_CHECKS_ENV, buildDockerfiles, reportBuildChecks } from '../../../shared/build-checks';
import { depotArgs } from '../../../shared/depot-inputs';
import { errorMessage } from '../../../shared/errors';
import { readImageId, readMetadata } from '../../../shared/metadata';
import { run } from '../../../shared/runner';
import { setOutputs } from '../../../shared/outputs';
import { cleanupStep, prepareStep, runSettled } from '../../../shared/step';
import { depotCells, saveBuildReport, summaryInputs, summaryStep } from '../../../shared/summary';
import { writeSecretFile } from '../../../shared/tempdir';
import { traced } from '../../../shared/trace';
import { getInputs, toArgs } from './inputs';

async function main(): Promise<void> {
  const started = Date.now();
  const inputs = getInputs();
  const ctx = await prepareStep(inputs.builder);
  const iidFile = join(ctx.tmp, 'iidfile');
  const metadataFile = join(ctx.tmp, 'metadata.json');
  const { builder } = ctx;
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
  const { built, failure: buildFailure } = await runSettled(inputs, ctx, {
    command: 'build',
    buildxArgs,
    depotArgs: depotArgs(inputs),
    positional: [context],
    env: { ...BUILD_CHECKS_ENV },
  });
  const failure = reportBuildChecks(
    { metadataFile, call: inputs.call, dockerfiles: buildDockerfiles(context, inputs.file, ctx.github) },
    buildFailure,
  );

  const metadata = readMetadata(metadataFile);
  await setOutputs({
    imageid: readImageId(iidFile),
    digest: metadata?.digest,
    metadata: metadata?.raw,
    'build-id': metadata?.depot?.buildID,
    'project-id': metadata?.depot?.projectID,
  });
  // The post step writes the summary (and exports the build record), so a failed build has one too.
  saveBuildReport({
    heading: 'Depot build',
    status: built ? 'success' : 'failed',
    ...(built ? {} : { error: errorMessage(failure) }),
    startedAt: started,
    finishedAt: Date.now(),
    call: inputs.call,
    ...(metadata?.digest ? { digest: metadata.digest } : {}),
    tags: inputs.tags,
    platforms: inputs.platforms,
    ...depotCells(built, metadata?.depot),
    inputs: summaryInputs({ ...inputs, version: core.getInput('version') }),
    refs: buildRefs({
      metadata: metadata?.raw,
      builder: inputs.builder || builder?.name,
      since: started,
      context,
    }),
    history: historySupport(ctx.buildx),
  });
  if (!built) throw failure;
}

async function post(): Promise<void> {
  await traced('summary and record', () => summaryStep(uploadBuildRecord));
  await traced('cleanup', cleanupStep);
}

void run(main, post);
