// The providers this broker implements. CircleCI, GitLab and Buildkite have names in the config contract but no
// implementation yet: an issuer entry naming them is refused at load with a message saying so.
import { githubActions } from './github-actions';
import type { Provider, ProviderName } from './types';

export const PROVIDERS: Partial<Record<ProviderName, Provider>> = {
  'github-actions': githubActions,
};

export function implementedProviders(): string[] {
  return Object.keys(PROVIDERS);
}

export type { Provider, ProviderName } from './types';
