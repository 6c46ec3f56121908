// The providers this broker implements, one module each.
import { buildkite } from './buildkite';
import { circleci } from './circleci';
import { githubActions } from './github-actions';
import { gitlab } from './gitlab';
import type { Provider, ProviderName } from './types';

export const PROVIDERS: Partial<Record<ProviderName, Provider>> = {
  'github-actions': githubActions,
  circleci,
  gitlab,
  buildkite,
};

export function implementedProviders(): string[] {
  return Object.keys(PROVIDERS);
}

export type { Provider, ProviderName } from './types';
