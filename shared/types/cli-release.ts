/** What a `version` input asks of the depot CLI release manifest. */
export type VersionSpec =
  | { kind: 'latest' }
  /** One version, cleaned (`v1.2.3` -> `1.2.3`). */
  | { kind: 'exact'; version: string }
  /** A semver range such as `1.x`, `^1.2` or `1.2`. */
  | { kind: 'range'; range: string }
  /**
   * build-push's and bake's default: the CLI release matching the action's own version when the manifest lists it
   * (or the tool cache holds it), else the latest.
   */
  | { kind: 'preferred'; version: string };

/** Installing the CLI from a release manifest: which version, and where the manifest is. */
export interface CliInstallRequest {
  version: VersionSpec;
  /** The manifest's URL, already checked to be http(s). */
  manifestUrl: string;
}
