// The providers this broker implements, one module each.
import { buildkite } from './buildkite';
import { circleci } from './circleci';
import { githubActions } from './github-actions';
import { gitlab } from './gitlab';
import type { Provider, ProviderName } from './types';

/** Every provider of the contract (shared/contract/exchange.ts CI_PROVIDERS) has its implementation here. */
export const PROVIDERS: Record<ProviderName, Provider> = {
  'github-actions': githubActions,
  circleci,
  gitlab,
  buildkite,
};

export type { Provider, ProviderName } from './types';
