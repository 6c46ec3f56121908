/** Where a project token came from; logs name the source, never the value. */
export type TokenSource = 'input' | 'env' | 'oidc' | 'fork-claim';

export type TokenResolution =
  /** A project token for the CLI (DEPOT_TOKEN in the child's env only). */
  | {
      kind: 'token';
      token: string;
      source: TokenSource;
      project?: string;
      isolated?: boolean;
      expiresAt?: string;
      /** Why the build is isolated, for logs and summaries (e.g. `pull request #12 from fork mallory/web`). */
      isolation?: string;
    }
  /** Build through the CLI with no project cache (one warning line says why). */
  | { kind: 'no-project'; reason: string }
  /** `buildx-fallback` is on and the broker could not be used: build with plain `docker buildx`. */
  | { kind: 'fallback'; reason: string };

export interface TokenRequest {
  /** The `token` input. */
  token: string;
  /** The `project` input. */
  project: string;
  /** The `broker-url` input. */
  brokerUrl: string;
  /** The `oidc-audience` input. */
  audience: string;
  buildxFallback: boolean;
  /** The `fork-wait` input: seconds a fork pull request waits for its claimed token (capped at the claim's life). */
  forkWait: number;
}
