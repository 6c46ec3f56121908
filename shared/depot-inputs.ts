// The inputs our build actions add to docker's, parsed once, and the depot flags they become.
import { manifestUrl, parseBuildVersionSpec } from './cli-release';
import { BUILD_PLATFORMS, LINT_LEVELS } from './contract/cli';
import { DEFAULT_FORK_WAIT_SECONDS } from './fork-claim';
import { getBoolean, getChoice, getList, getSeconds, getString, parseUrl } from './inputs';
import type { DepotInputs } from './types/depot-inputs';
import type { TokenRequest } from './types/token';

export type { DepotInputs } from './types/depot-inputs';

export function getDepotInputs(): DepotInputs {
  return {
    project: getString('project'),
    token: getString('token'),
    save: getBoolean('save'),
    'save-tag': getList('save-tag'),
    'save-tags': getList('save-tags'),
    'build-platform': getChoice('build-platform', BUILD_PLATFORMS),
    'cache-key': getString('cache-key'),
    'buildx-fallback': getBoolean('buildx-fallback'),
    lint: getBoolean('lint'),
    'lint-fail-on': getChoice('lint-fail-on', LINT_LEVELS, { aliases: { warning: 'warn' } }),
    'sbom-dir': getString('sbom-dir'),
    'broker-url': parseUrl('broker-url', getString('broker-url')),
    'oidc-audience': getString('oidc-audience'),
    'fork-wait': getSeconds('fork-wait', DEFAULT_FORK_WAIT_SECONDS),
    version: parseBuildVersionSpec(getString('version')),
    'manifest-url': manifestUrl(getString('manifest-url'), process.env),
  };
}

/** The depot-only flags (never passed to plain buildx). */
export function depotArgs(inputs: DepotInputs): string[] {
  const args: string[] = [];
  if (inputs.save) args.push('--save');
  for (const tag of [...inputs['save-tag'], ...inputs['save-tags']]) args.push('--save-tag', tag);
  if (inputs['build-platform']) args.push('--build-platform', inputs['build-platform']);
  if (inputs['cache-key']) args.push('--cache-key', inputs['cache-key']);
  if (inputs.lint) args.push('--lint');
  if (inputs.lint && inputs['lint-fail-on']) args.push('--lint-fail-on', inputs['lint-fail-on']);
  if (inputs['sbom-dir']) args.push('--sbom-dir', inputs['sbom-dir']);
  return args;
}

export function tokenRequest(inputs: DepotInputs): TokenRequest {
  return {
    token: inputs.token,
    project: inputs.project,
    brokerUrl: inputs['broker-url'],
    audience: inputs['oidc-audience'],
    buildxFallback: inputs['buildx-fallback'],
    forkWait: inputs['fork-wait'],
  };
}
