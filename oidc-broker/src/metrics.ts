// Prometheus metrics (prom-client), one registry per broker instance.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StoreStats } from './store/types';

export class Metrics {
  readonly registry = new Registry();

  /** `state`: the store's own figures, read at each scrape. */
  constructor(state: () => StoreStats) {
    new Gauge({
      name: 'broker_state_owed_jtis',
      help: 'Used jtis whose uses were answered 503 state_unavailable (nothing minted) that may be in the state and are not deleted again yet; until they are (the instance keeps trying) or expire, a retry with those very tokens is refused as replayed. Above 0 for long: the state is failing',
      registers: [this.registry],
      collect() {
        this.set(state().owedJtis);
      },
    });
    let dropped = 0;
    new Counter({
      name: 'broker_state_audit_rows_dropped_total',
      help: 'Audit rows dropped unwritten (PostgreSQL: more waited than the queue holds while the database was away)',
      registers: [this.registry],
      collect() {
        const now = state().auditRowsDropped;
        this.inc(now - dropped);
        dropped = now;
      },
    });
  }

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
