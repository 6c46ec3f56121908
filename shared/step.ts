// The phases every build action shares: the run's context and temp dir, the buildx version, the project token,
// the depot run, and the outputs read back from the metadata file.
import * as core from '@actions/core';
import { buildxVersion } from './buildx';
import type { BuildxVersion } from './buildx';
import { DepotCli } from './depot';
import type { DepotResult, DepotRun } from './depot';
import { tokenRequest } from './depot-inputs';
import type { DepotInputs } from './depot-inputs';
import { getGithubContext } from './github';
import type { GithubContext } from './github';
import { createTempDir, removeTempDir } from './tempdir';
import { defaultTokenDeps, resolveToken } from './token';
import type { TokenDeps, TokenResolution } from './token';

export interface StepContext {
  github: GithubContext;
  /** The step's private temp dir (0700); the post step removes it. */
  tmp: string;
  buildx: BuildxVersion;
}

/** The post step finds the temp dir under this state name. */
const TMP_DIR_STATE = 'tmpDir';

export async function prepareStep(): Promise<StepContext> {
  const github = getGithubContext();
  const tmp = createTempDir();
  core.saveState(TMP_DIR_STATE, tmp);
  const buildx = await core.group('Buildx version', async () => {
    const v = await buildxVersion();
    core.info(v.raw || 'docker buildx not found: inputs are not gated on its version');
    return v;
  });
  return { github, tmp, buildx };
}

export interface BuildRun {
  resolution: TokenResolution;
  result: DepotResult;
}

/** resolveAndRun's collaborators; the defaults are the runner's and the machine's. */
export interface RunDeps {
  /** Token resolution's: the env, the OIDC token source, fetch, sleep, retries (default: defaultTokenDeps). */
  token?: TokenDeps;
  /** Runs depot or plain buildx (default: a DepotCli over the real exec). */
  cli?: DepotCli;
}

/**
 * Resolves the project token and runs depot (or plain buildx where `buildx-fallback` allows), installing the CLI
 * from the `version` and `manifest-url` inputs first when it is not on PATH.
 */
export async function resolveAndRun(
  inputs: DepotInputs,
  ctx: StepContext,
  run: Omit<DepotRun, 'resolution' | 'project' | 'buildxFallback'>,
  deps: RunDeps = {},
): Promise<BuildRun> {
  const resolution = await core.group('Project token', () =>
    resolveToken(tokenRequest(inputs), deps.token ?? defaultTokenDeps(ctx.github)),
  );
  // The CLI reads DEPOT_PROJECT_ID itself; only the input needs passing, and only with a token to build for it.
  const project = resolution.kind === 'token' ? inputs.project : '';
  const result = await (deps.cli ?? new DepotCli()).run({
    ...run,
    resolution,
    ...(project ? { project } : {}),
    buildxFallback: inputs['buildx-fallback'],
    install: { version: inputs.version, manifestUrl: inputs['manifest-url'] },
  });
  return { resolution, result };
}

/**
 * resolveAndRun, settled: a failed build comes back as `failure` instead of throwing, so the step can still set its
 * outputs from whatever the build wrote (as docker's actions do) before it fails with that error.
 */
export async function runSettled(
  ...args: Parameters<typeof resolveAndRun>
): Promise<{ built?: BuildRun; failure?: unknown }> {
  try {
    return { built: await resolveAndRun(...args) };
  } catch (failure: unknown) {
    return { failure };
  }
}

/** The post step: remove the step's temp dir (it may hold secrets). */
export async function cleanupStep(): Promise<void> {
  const tmp = core.getState(TMP_DIR_STATE);
  if (!tmp) return;
  removeTempDir(tmp);
  core.info(`Removed ${tmp}`);
}
