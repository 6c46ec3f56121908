import type { BuildPlatform, LintFailOn } from '../contract/cli';

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
}
