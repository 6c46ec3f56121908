// actions/bake: parse inputs, read the bake definition, resolve a project token, run `depot bake`, set the outputs and
// save the report. Post: the build records and the job summary, then remove temp files.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as core from '@actions/core';
import { buildPlatformNote } from '../../../shared/buildx';
import { buildRefs, historySupport, uploadBuildRecord } from '../../../shared/build-record';
import { BUILD_CHECKS_ENV, bakeDockerfiles, reportBuildChecks } from '../../../shared/build-checks';
import { BAKE_DEFINITION_ENV } from '../../../shared/contract/bake';
import { depotArgs } from '../../../shared/depot-inputs';
import { errorMessage, UserError } from '../../../shared/errors';
import { CommandNotFound, exec } from '../../../shared/exec';
import type { ExecResult } from '../../../shared/exec';
import { readMetadata } from '../../../shared/metadata';
import { run } from '../../../shared/runner';
import { setOutputs } from '../../../shared/outputs';
import { cleanupStep, prepareStep, runSettled } from '../../../shared/step';
import type { StepContext } from '../../../shared/step';
import { depotCells, saveBuildReport, summaryInputs, summaryStep } from '../../../shared/summary';
import { bakeEnv, getInputs, printArgs, toArgs } from './inputs';
import type { BakeDefinition, Inputs } from './inputs';

async function main(): Promise<void> {
  const started = Date.now();
  // The builder is asked about with the buildx version (prepareStep), which the other inputs are gated on.
  const ctx = await prepareStep(core.getInput('builder'));
  const inputs = getInputs(ctx.github, ctx.buildx);
  const { builder } = ctx;
  const env = bakeEnv(inputs, { env: process.env, github: ctx.github });
  for (const value of Object.values(env)) core.setSecret(value);
  const definition = await core.group('Bake definition', () => readDefinition(inputs, ctx, env));
  // The CLI reads the definition from this file instead of running `bake --print` a second time.
  const definitionFile = join(ctx.tmp, 'bake-definition.json');
  writeFileSync(definitionFile, definition.json, { mode: 0o600 });
  const metadataFile = join(ctx.tmp, 'metadata.json');
  const { buildxArgs, positional } = toArgs(inputs, {
    github: ctx.github,
    buildx: ctx.buildx,
    ...(builder ? { builder } : {}),
    env: process.env,
    metadataFile,
    definition: definition.parsed,
    warn: core.warning,
  });
  core.debug(`toArgs: ${JSON.stringify(buildxArgs)}`);
  const note = buildPlatformNote(inputs['build-platform']);
  if (note) core.info(note);
  // A failed bake still sets the outputs from whatever it wrote, as docker's action does; then the step fails.
  const { built, failure: buildFailure } = await runSettled(inputs, ctx, {
    command: 'bake',
    buildxArgs,
    depotArgs: depotArgs(inputs),
    positional,
    cwd: inputs.workdir,
    env: { ...env, ...BUILD_CHECKS_ENV, [BAKE_DEFINITION_ENV]: definitionFile },
  });
  const failure = reportBuildChecks(
    {
      metadataFile,
      call: inputs.call,
      dockerfiles: bakeDockerfiles(definition.parsed, {
        source: inputs.source,
        workdir: inputs.workdir,
        github: ctx.github,
      }),
    },
    buildFailure,
  );

  const metadata = readMetadata(metadataFile);
  const digests: Record<string, string> = {};
  for (const [target, m] of Object.entries(metadata?.targets ?? {})) if (m.digest) digests[target] = m.digest;
  await setOutputs({
    metadata: metadata?.raw,
    digests: metadata ? JSON.stringify(digests) : undefined,
    'build-id': metadata?.depot?.buildID,
    'project-id': metadata?.depot?.projectID,
  });
  // The post step writes the summary (and exports the build records), so a failed bake has one too.
  saveBuildReport({
    heading: 'Depot bake',
    status: built ? 'success' : 'failed',
    ...(built ? {} : { error: errorMessage(failure) }),
    startedAt: started,
    finishedAt: Date.now(),
    call: inputs.call,
    tags: [],
    platforms: [],
    ...depotCells(built, metadata?.depot),
    targets: Object.entries(definition.parsed.target).map(([name, t]) => ({
      name,
      platforms: t?.platforms?.join(', ') || 'default',
      tags: t?.tags?.join(', ') || '-',
      digest: digests[name] ?? '-',
    })),
    inputs: summaryInputs({ ...inputs, version: core.getInput('version') }),
    refs: buildRefs({
      metadata: metadata?.raw,
      builder: inputs.builder || builder?.name,
      since: started,
      bake: true,
    }),
    history: historySupport(ctx.buildx),
  });
  if (!built) throw failure;
}

async function post(): Promise<void> {
  await summaryStep(uploadBuildRecord);
  await cleanupStep();
}

/**
 * The resolved definition (`docker buildx bake --print`), read once per step with the build's env (its
 * BUILDX_BAKE_GIT_AUTH_TOKEN): for the default provenance, the summary and the CLI. As bake-action's, a definition
 * that cannot be read fails the step.
 */
async function readDefinition(
  inputs: Inputs,
  ctx: StepContext,
  env: Record<string, string>,
): Promise<{ json: string; parsed: BakeDefinition }> {
  const args = printArgs(inputs, { buildx: ctx.buildx, github: ctx.github, warn: core.warning });
  let res: ExecResult;
  try {
    res = await exec('docker', args, {
      cwd: inputs.workdir,
      env: { ...process.env, ...env },
      silent: true,
      captureStdout: true,
    });
  } catch (err: unknown) {
    if (err instanceof CommandNotFound) {
      throw new UserError(
        'docker is not installed: bake reads its definition with docker buildx bake --print.',
      );
    }
    throw err;
  }
  if (res.exitCode !== 0) {
    throw new UserError(
      `Reading the bake definition (docker buildx bake --print) failed with: ${res.lastStderrLine || `exit code ${res.exitCode}`}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.stdout);
  } catch {
    throw new UserError('`docker buildx bake --print` did not print JSON: check the bake files.');
  }
  const target =
    parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>).target : undefined;
  const definition: BakeDefinition = {
    target: target !== null && typeof target === 'object' ? (target as BakeDefinition['target']) : {},
  };
  core.info(
    `Targets: ${Object.keys(definition.target).join(', ') || 'none'} (buildx ${ctx.buildx.version ?? '?'})`,
  );
  return { json: res.stdout, parsed: definition };
}

void run(main, post);
