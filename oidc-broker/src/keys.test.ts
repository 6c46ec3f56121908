// The broker's keys in a real data dir: the registry signer is a short-lived leaf of the broker's CA, renewed
// before it runs out, and the signing keys rotate on a schedule.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyStore, LEAF_BACKDATE, LEAF_RENEW_MARGIN } from './keys';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'broker-keys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3600;
const policy = { signerTtl: 2 * HOUR, keyRotation: 30 * 86_400 };

function leaf(keys: KeyStore): X509Certificate {
  return new X509Certificate(Buffer.from(keys.registrySigner().x5c[0] ?? '', 'base64'));
}

describe('the registry signer', () => {
  it('is a leaf of the CA, valid from 5 minutes ago for registry_signer_ttl', async () => {
    const t = Date.now();
    const keys = await KeyStore.open(dir, policy);
    const cert = leaf(keys);
    const ca = new X509Certificate(readFileSync(keys.caCertPath()));
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(ca.ca).toBe(true);
    expect(Date.parse(cert.validFrom) / 1000).toBeCloseTo(t / 1000 - LEAF_BACKDATE, -1);
    expect(Date.parse(cert.validTo) / 1000).toBeCloseTo(t / 1000 + policy.signerTtl, -1);
    expect(keys.registrySigner().notAfter).toBe(Math.floor(Date.parse(cert.validTo) / 1000));
  });

  it('is renewed from the same CA when less than the renewal margin is left, and not before', async () => {
    const keys = await KeyStore.open(dir, policy);
    const first = leaf(keys).serialNumber;
    const ca = readFileSync(keys.caCertPath(), 'utf8');
    const notAfter = keys.registrySigner().notAfter;
    expect(await keys.maintain(policy, notAfter - LEAF_RENEW_MARGIN - 1)).toEqual({
      rotated: false,
      renewedSigner: false,
    });
    expect(leaf(keys).serialNumber).toBe(first);
    expect(await keys.maintain(policy, notAfter - LEAF_RENEW_MARGIN + 1)).toEqual({
      rotated: false,
      renewedSigner: true,
    });
    expect(leaf(keys).serialNumber).not.toBe(first);
    expect(readFileSync(keys.caCertPath(), 'utf8')).toBe(ca);
  });

  it('is reissued at once when registry_signer_ttl is shortened', async () => {
    const keys = await KeyStore.open(dir, { ...policy, signerTtl: 24 * HOUR });
    const done = await keys.maintain({ ...policy, signerTtl: HOUR });
    expect(done.renewedSigner).toBe(true);
    expect(keys.registrySigner().notAfter - Date.now() / 1000).toBeLessThanOrEqual(HOUR + 1);
  });
});

describe('signing keys', () => {
  it('rotate once the current key has served key_rotation, keeping the old one published', async () => {
    const keys = await KeyStore.open(dir, policy);
    const before = keys.signingKey().kid;
    const now = Math.floor(Date.now() / 1000);
    expect((await keys.maintain(policy, now + policy.keyRotation - 60)).rotated).toBe(false);
    expect(keys.signingKey().kid).toBe(before);
    expect((await keys.maintain(policy, now + policy.keyRotation + 1)).rotated).toBe(true);
    expect(keys.signingKey().kid).not.toBe(before);
    expect(keys.jwks().keys.map((k) => k.kid)).toContain(before);
    const reopened = await KeyStore.open(dir, policy);
    expect(reopened.signingKey().kid).toBe(keys.signingKey().kid);
  });

  it('rotate-keys also issues a new signer leaf', async () => {
    const keys = await KeyStore.open(dir, policy);
    const serial = leaf(keys).serialNumber;
    await keys.rotate(policy);
    expect(leaf(keys).serialNumber).not.toBe(serial);
  });
});
