// Prometheus metrics (prom-client), one registry per broker instance.
import { Counter, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly exchanges = new Counter({
    name: 'broker_exchanges_total',
    help: 'OIDC token exchanges by provider and outcome (ok or the refusal code)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly exchangeSeconds = new Histogram({
    name: 'broker_exchange_duration_seconds',
    help: 'Time to answer an exchange',
    labelNames: ['provider'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly jwksFetches = new Counter({
    name: 'broker_jwks_fetches_total',
    help: 'JWKS fetches by issuer entry',
    labelNames: ['issuer'] as const,
    registers: [this.registry],
  });
  readonly jwksErrors = new Counter({
    name: 'broker_jwks_fetch_errors_total',
    help: 'Failed JWKS fetches by issuer entry',
    labelNames: ['issuer'] as const,
    registers: [this.registry],
  });
  readonly registryTokens = new Counter({
    name: 'broker_registry_tokens_total',
    help: 'Registry token requests by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly registryGrants = new Counter({
    name: 'broker_registry_grants_total',
    help: 'Registry actions requested, by kind of repository, action and whether they were granted',
    labelNames: ['repository', 'action', 'granted'] as const,
    registers: [this.registry],
  });
  readonly forkClaims = new Counter({
    name: 'broker_fork_claims_total',
    help: 'Fork-PR claims and claim exchanges (polls) by endpoint and outcome (ok, pending, or the refusal code)',
    labelNames: ['endpoint', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly githubRequests = new Counter({
    name: 'broker_github_requests_total',
    help: 'GitHub API requests of the fork-PR claim flow by request and outcome (ok, not_found, unavailable, unexpected)',
    labelNames: ['request', 'outcome'] as const,
    registers: [this.registry],
  });
}
