// actions/setup inputs, keyed by their action.yml names and parsed once. `version` and `manifest-url` are parsed by
// shared/cli-release.ts, as build-push's and bake's are.
import * as core from '@actions/core';
import { manifestUrl, parseVersionSpec } from '../../../shared/cli-release';
import type { VersionSpec } from '../../../shared/cli-release';
import { DEFAULT_FORK_WAIT_SECONDS } from '../../../shared/fork-claim';
import { getBoolean, getSeconds, getString, parseUrl } from '../../../shared/inputs';

export interface Inputs {
  version: VersionSpec;
  /** Where the release manifest is: the input, else DEPOT_MANIFEST_URL, else this repository's latest release. */
  'manifest-url': string;
  oidc: boolean;
  project: string;
  'broker-url': string;
  'oidc-audience': string;
  /** Seconds a fork pull request waits for its claimed isolated token. */
  'fork-wait': number;
  'configure-docker': boolean;
}

export function getInputs(env: NodeJS.ProcessEnv = process.env): Inputs {
  return {
    version: parseVersionSpec(core.getInput('version')),
    'manifest-url': manifestUrl(core.getInput('manifest-url'), env),
    oidc: getBoolean('oidc'),
    project: getString('project'),
    'broker-url': parseUrl('broker-url', getString('broker-url')),
    'oidc-audience': getString('oidc-audience'),
    'fork-wait': getSeconds('fork-wait', DEFAULT_FORK_WAIT_SECONDS),
    'configure-docker': getBoolean('configure-docker'),
  };
}

/** Inputs that do nothing as set: each gets one warning line rather than being ignored silently. */
export function unusedInputs(inputs: Inputs): string[] {
  if (inputs.oidc) return [];
  const set = (['project', 'broker-url', 'oidc-audience'] as const).filter((name) => inputs[name] !== '');
  return set.map((name) => `Input \`${name}\` is only used with \`oidc: true\`: it is ignored.`);
}
