// `oidc: true`: get a project token through shared/'s token resolution (DEPOT_TOKEN, else the OIDC exchange at the
// broker, else for a pull request from a fork the claim flow's isolated token) and export it as DEPOT_TOKEN for the
// job's later steps, masked first.
import * as core from '@actions/core';
import { resolveToken } from '../../../shared/token';
import type { TokenDeps } from '../../../shared/token';
import type { Inputs } from './inputs';

export type TokenExport =
  | { exported: true; source: 'oidc' | 'fork-claim'; project?: string; isolated?: boolean }
  | { exported: false; reason: string };

export async function exportProjectToken(
  inputs: Pick<Inputs, 'project' | 'broker-url' | 'oidc-audience' | 'fork-wait'>,
  deps: TokenDeps,
): Promise<TokenExport> {
  const resolution = await resolveToken(
    {
      token: '',
      project: inputs.project,
      brokerUrl: inputs['broker-url'],
      audience: inputs['oidc-audience'],
      buildxFallback: false,
      forkWait: inputs['fork-wait'],
    },
    deps,
  );
  switch (resolution.kind) {
    case 'token': {
      if (resolution.source !== 'oidc' && resolution.source !== 'fork-claim') {
        // DEPOT_TOKEN is already in the job's env: it wins over an exchange (DESIGN.md's order) and stays as is.
        return { exported: false, reason: 'DEPOT_TOKEN is already set for this job' };
      }
      core.setSecret(resolution.token);
      core.exportVariable('DEPOT_TOKEN', resolution.token);
      deps.log.info(
        resolution.isolation
          ? `Exported an isolated DEPOT_TOKEN (masked) for the following steps: ${resolution.isolation}; the project cache is neither read nor written.`
          : 'Exported DEPOT_TOKEN (masked) for the following steps.',
      );
      const out: TokenExport = { exported: true, source: resolution.source };
      if (resolution.project !== undefined) out.project = resolution.project;
      if (resolution.isolated !== undefined) out.isolated = resolution.isolated;
      return out;
    }
    case 'no-project':
      deps.log.warning(
        `DEPOT_TOKEN not exported: ${resolution.reason}; builds run without the project cache.`,
      );
      return { exported: false, reason: resolution.reason };
    case 'fallback':
      // resolveToken only falls back when asked to (buildxFallback above is false).
      throw new Error(`token resolution fell back unasked: ${resolution.reason}`);
    default: {
      const impossible: never = resolution;
      throw new Error(`unknown token resolution ${(impossible as { kind: string }).kind}`);
    }
  }
}
