// The phases every build action shares: the run's context and temp dir, the buildx version, the project token,
// the depot run, and the outputs read back from the metadata file.
import * as core from '@actions/core';
import { dockerFactsFor, probeDocker } from './buildx';
import { probedEnv } from './cache-probe';
import type { BuilderInfo, BuildxVersion, DockerProbe } from './buildx';
import { DOCKER_FACTS_ENV, encodeDockerFacts } from './contract/docker-facts';
import { DepotCli } from './depot';
import type { DepotResult, DepotRun } from './depot';
import { tokenRequest } from './depot-inputs';
import type { DepotInputs } from './depot-inputs';
import { getGithubContext } from './github';
import type { GithubContext } from './github';
import { createTempDir, removeTempDir } from './tempdir';
import { defaultTokenDeps, resolveToken } from './token';
import { traced } from './trace';
import type { TokenDeps, TokenResolution } from './token';

export interface StepContext {
  github: GithubContext;
  /** The step's private temp dir (0700); the post step removes it. */
  tmp: string;
  buildx: BuildxVersion;
  /** `docker buildx inspect` of the step's builder (undefined when it failed). */
  builder?: BuilderInfo;
  /** What the CLI is handed so it does not ask docker again (shared/contract/docker-facts.ts). */
  dockerFacts: Record<string, string>;
}

/** The post step finds the temp dir under this state name. */
const TMP_DIR_STATE = 'tmpDir';

/**
 * The step's context, temp dir and what docker says (probeDocker: the buildx version and the builder `builder`, ''
 * for buildx's choice, asked together), each printed in its group.
 */
export async function prepareStep(builder: string): Promise<StepContext> {
  const github = getGithubContext();
  const tmp = createTempDir();
  core.saveState(TMP_DIR_STATE, tmp);
  const infoLines: string[] = [];
  const probe: DockerProbe = await traced('docker info + buildx inspect', () =>
    probeDocker(builder, { log: (m) => infoLines.push(m) }),
  );
  const buildx = await core.group('Buildx version', async () => {
    core.info(probe.buildx.raw || 'docker buildx not found: inputs are not gated on its version');
    return probe.buildx;
  });
  const info = await core.group('Builder info', async () => {
    for (const line of infoLines) core.info(line);
    if (probe.builder) core.info(JSON.stringify(probe.builder));
    return probe.builder;
  });
  const dockerFacts = { [DOCKER_FACTS_ENV]: encodeDockerFacts(dockerFactsFor(builder, probe)) };
  return { github, tmp, buildx, ...(info ? { builder: info } : {}), dockerFacts };
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
  /** Probes the token's cache registry for the CLI (default: shared/cache-probe.ts probedEnv). */
  probe?: (token: string) => Promise<Record<string, string>>;
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
    traced('project token', () =>
      resolveToken(tokenRequest(inputs), deps.token ?? defaultTokenDeps(ctx.github)),
    ),
  );
  // The CLI reads DEPOT_PROJECT_ID itself; only the input needs passing, and only with a token to build for it.
  const project = resolution.kind === 'token' ? inputs.project : '';
  // The registry probe the CLI would make, made here where Node's HTTP stack is loaded already (cache-probe.ts).
  const probed =
    resolution.kind === 'token'
      ? await traced('cache probe', () => (deps.probe ?? probedEnv)(resolution.token))
      : {};
  const result = await traced(`depot ${run.command}`, () =>
    (deps.cli ?? new DepotCli()).run({
      ...run,
      env: { ...ctx.dockerFacts, ...probed, ...run.env },
      resolution,
      ...(project ? { project } : {}),
      buildxFallback: inputs['buildx-fallback'],
      install: { version: inputs.version, manifestUrl: inputs['manifest-url'] },
    }),
  );
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
