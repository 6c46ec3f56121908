/** The inputs every build action of ours takes beyond docker's, keyed by their action.yml names. */
export interface DepotInputs {
  project: string;
  token: string;
  save: boolean;
  'save-tag': string[];
  'save-tags': string[];
  'build-platform': '' | 'linux/amd64' | 'linux/arm64' | 'dynamic';
  'buildx-fallback': boolean;
  lint: boolean;
  'lint-fail-on': '' | 'error' | 'warn' | 'info' | 'none';
  'sbom-dir': string;
  'broker-url': string;
  'oidc-audience': string;
}
