import type { BuildPlatform, LintFailOn } from '../contract/cli';
import type { VersionSpec } from './cli-release';

/** The inputs every build action of ours takes beyond docker's, keyed by their action.yml names. */
export interface DepotInputs {
  project: string;
  token: string;
  save: boolean;
  'save-tag': string[];
  'save-tags': string[];
  'build-platform': '' | BuildPlatform;
  /** The project cache key (`--cache-key`); '' keeps the CLI's default (the target, else `default`). */
  'cache-key': string;
  'buildx-fallback': boolean;
  lint: boolean;
  'lint-fail-on': '' | LintFailOn;
  'sbom-dir': string;
  'broker-url': string;
  'oidc-audience': string;
  /** Seconds a fork pull request waits for its claimed isolated token. */
  'fork-wait': number;
  /** The CLI release installed when `depot` is not on PATH (empty input: this action's version, else the latest). */
  version: VersionSpec;
  /** That release's manifest: the input, else DEPOT_MANIFEST_URL, else this repository's latest release. */
  'manifest-url': string;
}
