// The broker's keys in a real data dir: the registry signer is a short-lived leaf of the broker's CA, renewed
// before it runs out, and the signing keys rotate on a schedule.
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KeyMaterial } from './keys';
import { KeyStore, LEAF_BACKDATE, LEAF_RENEW_MARGIN, RELOAD_RETRY_MS } from './keys';
import type { CertificateAndKey, StoreChange, StoredKey } from './store/types';

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

describe('a data dir whose certificate and key are not a pair', () => {
  const file = (name: string) => join(dir, name);

  it("a CA certificate without its key (a PostgreSQL broker's data dir): refused, saying whose it is and what to do", async () => {
    await KeyStore.open(dir, policy);
    unlinkSync(file('registry-ca-key.pem'));
    await expect(KeyStore.open(dir, policy)).rejects.toThrow(
      `${file('registry-ca.pem')} has no registry-ca-key.pem beside it: a PostgreSQL broker (store: postgres) keeps its registry CA's key in the database`,
    );
  });

  it("another CA's certificate, or another signer's, beside the key: refused, never signed under", async () => {
    const other = mkdtempSync(join(tmpdir(), 'broker-keys-other-'));
    try {
      await KeyStore.open(dir, policy);
      await KeyStore.open(other, policy);
      copyFileSync(file('registry-ca.pem'), join(other, 'registry-ca.pem.orig'));
      copyFileSync(join(other, 'registry-ca.pem'), file('registry-ca.pem'));
      await expect(KeyStore.open(dir, policy)).rejects.toThrow(
        `${file('registry-ca.pem')} is not the certificate of registry-ca-key.pem: put both back from a backup`,
      );
      // The signer's pair likewise (the CA's pair put back first).
      copyFileSync(join(other, 'registry-ca.pem.orig'), file('registry-ca.pem'));
      copyFileSync(join(other, 'registry-signer.pem'), file('registry-signer.pem'));
      await expect(KeyStore.open(dir, policy)).rejects.toThrow(
        `${file('registry-signer.pem')} is not the certificate of registry-signer-key.pem: put both back from a backup (npm run broker -- restore), or remove both`,
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('keys kept by a store', () => {
  /** A store's key methods over memory (as PostgreSQL keeps them: nothing in the data dir but the CA certificate). */
  function memory(): KeyMaterial & { listeners: Array<(what: StoreChange) => void> } {
    let keys: StoredKey[] = [];
    let ca: CertificateAndKey | undefined;
    let signer: CertificateAndKey | undefined;
    const listeners: Array<(what: StoreChange) => void> = [];
    return {
      listeners,
      signingKeys: () => Promise.resolve(structuredClone(keys)),
      saveSigningKeys: (k) => {
        keys = structuredClone(k);
        return Promise.resolve();
      },
      registryCa: () => Promise.resolve(ca),
      initRegistryCa: (c) => Promise.resolve((ca ??= c)),
      registrySigner: () => Promise.resolve(signer),
      saveRegistrySigner: (l) => {
        signer = l;
        return Promise.resolve();
      },
      onChange: (l) => {
        listeners.push(l);
        return () => undefined;
      },
    };
  }

  it('two instances on one store sign with the same keys under one CA; a rotation reaches the other on onChange', async () => {
    const store = memory();
    const a = await KeyStore.open({ store, dataDir: join(dir, 'a') }, policy);
    const b = await KeyStore.open({ store, dataDir: join(dir, 'b') }, policy);
    expect(b.signingKey().kid).toBe(a.signingKey().kid);
    expect(b.jwks()).toEqual(a.jwks());
    expect(readFileSync(b.caCertPath(), 'utf8')).toBe(readFileSync(a.caCertPath(), 'utf8'));
    expect(leaf(b).serialNumber).toBe(leaf(a).serialNumber);
    expect(existsSync(join(dir, 'a', 'keys.json'))).toBe(false);
    await a.rotate(policy);
    for (const l of store.listeners) l('keys');
    await vi.waitFor(() => expect(b.signingKey().kid).toBe(a.signingKey().kid));
    expect(leaf(b).serialNumber).toBe(leaf(a).serialNumber);
  });

  it("set aside a SQLite data dir's own CA certificate when writing the store's over it, so the dir can go back to SQLite", async () => {
    const own = (await KeyStore.open(dir, policy)).registryCa();
    const keys = await KeyStore.open({ store: memory(), dataDir: dir }, policy);
    expect(keys.registryCa().certPem).not.toBe(own.certPem);
    // The registry's rootcertbundle is the CA in force; the data dir's own is kept beside its key.
    expect(readFileSync(join(dir, 'registry-ca.pem'), 'utf8')).toBe(keys.registryCa().certPem);
    expect(readFileSync(join(dir, 'registry-ca.sqlite.pem'), 'utf8')).toBe(own.certPem);
    // Back on SQLite: refused with the way back named, never a certificate paired with another CA's key ...
    await expect(KeyStore.open(dir, policy)).rejects.toThrow(
      `${join(dir, 'registry-ca.pem')} is not the certificate of registry-ca-key.pem: a PostgreSQL broker wrote its database's CA there, and this data dir's own CA certificate is registry-ca.sqlite.pem. To run on SQLite under this data dir's CA, move registry-ca.sqlite.pem back to registry-ca.pem`,
    );
    // ... and once it is moved back, the data dir's own CA and a signer it issued.
    renameSync(join(dir, 'registry-ca.sqlite.pem'), join(dir, 'registry-ca.pem'));
    const back = await KeyStore.open(dir, policy);
    expect(back.registryCa()).toEqual(own);
    expect(leaf(back).checkIssued(new X509Certificate(own.certPem))).toBe(true);
  });

  it("refuse a public key, a CA certificate or a signer leaf written into the store without the private key's secret", async () => {
    const store = memory();
    const a = await KeyStore.open({ store, dataDir: join(dir, 'a') }, policy);
    const kid = a.signingKey().kid;
    const theirStore = memory();
    const theirs = await KeyStore.open({ store: theirStore, dataDir: join(dir, 'o') }, policy);
    const altered = 'the store was altered outside the broker (or damaged); restore it from a backup';

    // The `next` key's public JWK (stored in the clear, as PostgreSQL keeps it) swapped for one the attacker holds:
    // published, it would make the attacker's tokens verify. Refused at start, and on a reload.
    const keys = await store.signingKeys();
    const their = (await theirStore.signingKeys()).find((k) => k.state === 'next');
    const next = keys.find((k) => k.state === 'next');
    if (!their || !next) throw new Error('no next key');
    next.publicJwk = { ...their.publicJwk, kid: next.kid };
    await store.saveSigningKeys(keys);
    await expect(KeyStore.open({ store, dataDir: join(dir, 'b') }, policy)).rejects.toThrow(
      `signing key ${next.kid} in the store does not match its private key: ${altered}`,
    );
    await expect(a.reload()).rejects.toThrow(altered);
    // The instance that refused the reload goes on with the keys it had, the attacker's never published.
    expect(a.signingKey().kid).toBe(kid);
    expect(a.jwks().keys.map((k) => k.x)).not.toContain(their.publicJwk.x);

    // The CA's certificate swapped for the attacker's (it would become the registry's rootcertbundle).
    const caStore = memory();
    await caStore.initRegistryCa({ ...a.registryCa(), certPem: theirs.registryCa().certPem });
    await expect(KeyStore.open({ store: caStore, dataDir: join(dir, 'c') }, policy)).rejects.toThrow(
      `the registry CA's certificate in the store is not its key's: ${altered}`,
    );

    // A signer leaf another CA issued, with its own key: refused, never signed with.
    const leafStore = memory();
    await leafStore.initRegistryCa(a.registryCa());
    const theirLeaf = await theirStore.registrySigner();
    if (!theirLeaf) throw new Error('no leaf');
    await leafStore.saveRegistrySigner(theirLeaf);
    await expect(KeyStore.open({ store: leafStore, dataDir: join(dir, 'l') }, policy)).rejects.toThrow(
      `the registry signer's certificate in the store is not its key's, or not the registry CA's: ${altered}`,
    );
  });

  it('say when keys changed elsewhere cannot be reloaded, and try again until they are', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const shared = memory();
      const errors: unknown[] = [];
      const one = await KeyStore.open({ store: shared, dataDir: join(dir, 'a') }, policy);
      const two = await KeyStore.open({ store: shared, dataDir: join(dir, 'b') }, policy, (e) =>
        errors.push(e),
      );
      // The database is out of reach when the change is announced.
      const read = shared.signingKeys;
      shared.signingKeys = () => Promise.reject(new Error('connection terminated'));
      await one.rotate(policy);
      for (const l of shared.listeners) l('keys');
      await vi.waitFor(() => expect(errors).toHaveLength(1));
      expect(two.signingKey().kid).not.toBe(one.signingKey().kid);
      // Back: the retry reloads, with no second announcement.
      shared.signingKeys = read;
      await vi.advanceTimersByTimeAsync(RELOAD_RETRY_MS);
      await vi.waitFor(() => expect(two.signingKey().kid).toBe(one.signingKey().kid));
      expect(errors).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keep a CA the store already holds (migrated from a data dir): never a new one', async () => {
    const files = await KeyStore.open(dir, policy);
    const store = memory();
    await store.initRegistryCa(files.registryCa());
    const keys = await KeyStore.open({ store, dataDir: join(dir, 'other') }, policy);
    expect(keys.registryCa()).toEqual(files.registryCa());
    expect(leaf(keys).checkIssued(new X509Certificate(files.registryCa().certPem))).toBe(true);
  });
});
