// The registry config `registry-config` prints: token auth wired to the broker, and deletes on for `cache prune`.
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './config';
import { registryConfig } from './registry-config';

const CONFIG = `public_url: https://broker.example.test
issuers:
  github-actions:
    issuer: https://token.actions.example.test
registry: { host: "cache.example.test:5001", service: depot-cache }
projects:
  - id: web
    rules:
      - { id: web-main, provider: github-actions, repository: acme/web, repository_id: "1" }
`;

describe('registryConfig', () => {
  const doc = parse(
    registryConfig(parseConfig(CONFIG, '/etc/depot-broker/broker.yml'), {
      caCertPath: '/var/lib/depot-broker/registry-ca.pem',
      storage: '/var/lib/depot-broker/registry',
    }),
  ) as {
    storage: { delete: { enabled: boolean }; maintenance: Record<string, unknown> };
    http: { addr: string };
    auth: { token: Record<string, string> };
  };

  it('enables deletes (cache prune and reset delete manifests through the API)', () => {
    expect(doc.storage.delete).toEqual({ enabled: true });
  });

  it('is not read-only: the garbage-collection window sets that in the environment', () => {
    expect(doc.storage.maintenance.readonly).toBeUndefined();
  });

  it('asks the broker for tokens and trusts only its registry CA', () => {
    expect(doc.auth.token).toEqual({
      realm: 'https://broker.example.test/v2/token',
      service: 'depot-cache',
      issuer: 'https://broker.example.test',
      rootcertbundle: '/var/lib/depot-broker/registry-ca.pem',
    });
    expect(doc.http.addr).toBe('127.0.0.1:5001');
  });
});
