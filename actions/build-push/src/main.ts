// actions/build-push: parse inputs, resolve a project token, run `depot build`, report. Post: remove temp files.
import { join } from 'node:path';
import * as core from '@actions/core';
import { buildxVersion } from '../../../shared/buildx';
import { DepotCli } from '../../../shared/depot';
import { depotArgs, tokenRequest } from '../../../shared/depot-inputs';
import { getGithubContext } from '../../../shared/github';
import { readImageId, readMetadata } from '../../../shared/metadata';
import { run } from '../../../shared/runner';
import { writeSummary } from '../../../shared/summary';
import { createTempDir, removeTempDir, writeSecretFile } from '../../../shared/tempdir';
import { defaultTokenDeps, resolveToken } from '../../../shared/token';
import { getInputs, toArgs } from './inputs';
import * as state from './state';

async function main(): Promise<void> {
  const started = Date.now();
  const inputs = getInputs();
  const github = getGithubContext();
  const tmp = createTempDir();
  state.setTmpDir(tmp);
  const buildx = await core.group('Buildx version', async () => {
    const v = await buildxVersion();
    core.info(v.raw || 'docker buildx not found: inputs are not gated on its version');
    return v;
  });
  const iidFile = join(tmp, 'iidfile');
  const metadataFile = join(tmp, 'metadata.json');
  const { buildxArgs, context } = toArgs(inputs, {
    github,
    buildx,
    env: process.env,
    writeSecret: (value) => writeSecretFile(tmp, value),
    iidFile,
    metadataFile,
  });
  core.debug(`toArgs: ${JSON.stringify(buildxArgs)}`);
  const resolution = await core.group('Project token', () =>
    resolveToken(tokenRequest(inputs), defaultTokenDeps(github)),
  );
  const project = resolution.kind === 'token' ? inputs.project || process.env.DEPOT_PROJECT_ID || '' : '';
  const result = await new DepotCli().run({
    command: 'build',
    buildxArgs,
    depotArgs: depotArgs(inputs),
    positional: [context],
    resolution,
    ...(project ? { project } : {}),
    buildxFallback: inputs['buildx-fallback'],
  });

  const metadata = readMetadata(metadataFile);
  const imageid = readImageId(iidFile);
  const outputs: Record<string, string | undefined> = {
    imageid,
    digest: metadata?.digest,
    metadata: metadata?.raw,
    'build-id': metadata?.depot?.buildID,
    'project-id': metadata?.depot?.projectID,
  };
  await core.group('Outputs', async () => {
    for (const [name, value] of Object.entries(outputs)) {
      if (value === undefined) continue;
      core.info(`${name}: ${value}`);
      core.setOutput(name, value);
    }
  });
  const isolated =
    metadata?.depot?.isolated ?? (resolution.kind === 'token' ? resolution.isolated : undefined);
  await writeSummary({
    heading: 'Depot build',
    rows: [
      ['Project', metadata?.depot?.projectID ?? (result.via === 'buildx' ? 'none (plain buildx)' : 'none')],
      ['Build id', metadata?.depot?.buildID ?? '-'],
      ['Isolated', isolated === undefined ? '-' : isolated ? 'yes' : 'no'],
      ['Platforms', inputs.platforms.join(', ') || 'default'],
      ['Tags', inputs.tags.join(', ') || '-'],
      ['Digest', metadata?.digest ?? '-'],
      ['Duration', `${((Date.now() - started) / 1000).toFixed(1)} s`],
      ['Built with', result.via === 'depot' ? 'depot' : 'docker buildx (fallback)'],
    ],
  });
}

async function post(): Promise<void> {
  const tmp = state.getTmpDir();
  if (tmp) {
    removeTempDir(tmp);
    core.info(`Removed ${tmp}`);
  }
}

void run(main, post);
