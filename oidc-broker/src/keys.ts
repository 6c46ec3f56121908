// The broker's keys, kept in its data directory:
// - project-token signing keys (ES256): `next` is published before it signs, `current` signs, `retired` keys stay
//   published until every token they signed has expired. keys.json, mode 0600, replaced atomically. The current
//   key is retired on a schedule (`key_rotation`) and on `rotate-keys`.
// - the registry CA (long-lived, its certificate is the registry's rootcertbundle) and the registry token signer, a
//   short-lived leaf certificate the CA issues (`registry_signer_ttl`); registry tokens carry the leaf in x5c and
//   are signed only by its key. The registry checks the leaf's validity period itself, so a leaf stops working when
//   it expires; it is renewed well before that, from the same CA, so the registry needs no restart.
// The certificates are made in-process (x509.ts): no `openssl` program. Where they are kept is the store's business
// (store/types.ts): the data dir's files with SQLite (as every earlier version kept them), tables with PostgreSQL,
// where every instance reads the same keys and CA; a change made by another instance arrives through onChange().
// The CA certificate is also written to the data dir (registry-ca.pem), the registry's rootcertbundle.
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import { MAX_TOKEN_TTL } from './config';
import {
  CA_CERT_FILE,
  CA_CERT_SET_ASIDE,
  DataDirKeys,
  pairsWithCaKey,
  readCertificate,
  writeAtomic,
} from './store/sqlite';
import type { CertificateAndKey, Store, StoredKey } from './store/types';
import { createRegistryCa, issueRegistryLeaf } from './x509';

export type { StoredKey } from './store/types';
export { CA_CERT_FILE } from './store/sqlite';

/** Where the keys are kept: a Store, or the data dir's files. */
export type KeyMaterial = Pick<
  Store,
  | 'signingKeys'
  | 'saveSigningKeys'
  | 'registryCa'
  | 'initRegistryCa'
  | 'registrySigner'
  | 'saveRegistrySigner'
> &
  Partial<Pick<Store, 'onChange'>>;

/** How long keys live: the config's `registry_signer_ttl` and `key_rotation`, in seconds. */
export interface KeyPolicy {
  signerTtl: number;
  keyRotation: number;
}

export const DEFAULT_KEY_POLICY: KeyPolicy = { signerTtl: 24 * 3600, keyRotation: 30 * 86_400 };
/** A leaf's NotBefore is backdated this much (registries whose clock runs behind). */
export const LEAF_BACKDATE = 5 * 60;
/** Registry tokens live at most this long (registry-token.ts). */
export const REGISTRY_TOKEN_TTL = 300;
/** A leaf is renewed when less than this is left: every registry token it signed expires before it does. */
export const LEAF_RENEW_MARGIN = REGISTRY_TOKEN_TTL + 60;

/** How soon a reload of keys changed elsewhere is tried again after it failed. */
export const RELOAD_RETRY_MS = 5_000;

/** How long past a retired key's last token it stays published (clock skew of verifiers). */
const PUBLISH_MARGIN = 120;

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** generateKeyPairSync with the `jwk` encoding Node takes (since 15.9), which @types/node does not declare. */
const generateJwkPair = generateKeyPairSync as unknown as (
  type: 'ec',
  options: {
    namedCurve: string;
    publicKeyEncoding: { format: 'jwk' };
    privateKeyEncoding: { format: 'jwk' };
  },
) => { publicKey: JWK; privateKey: JWK };

async function newKey(state: StoredKey['state']): Promise<StoredKey> {
  // Encoded as JWKs by the generation itself, not exported afterwards: on Node 20, exporting a key just generated
  // can deadlock the process (a GC runs the generation job's destructor while the export holds the key's mutex).
  const { privateKey: privateJwk, publicKey: publicJwk } = generateJwkPair('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { format: 'jwk' },
    privateKeyEncoding: { format: 'jwk' },
  });
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    state,
    privateJwk,
    publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' },
    createdAt: now(),
  };
}

/** What to do about keys whose public half does not match the private one. */
const ALTERED =
  'the store was altered outside the broker (or damaged); restore it from a backup (or pg_dump), or rotate the keys from a broker that has the originals';

/** Stored key material that contradicts itself: the broker will not publish or sign with it. */
export class KeyIntegrityError extends Error {
  override readonly name = 'KeyIntegrityError';
}

/**
 * The JWK a key is published as, made from its private key (which, with PostgreSQL, is the part encrypted under
 * BROKER_KEY_SECRET and so cannot be changed without it), never taken from the stored public JWK: a public key
 * written into the store by someone without the secret is refused, not published.
 */
async function publishedJwk(k: StoredKey): Promise<JWK> {
  const { kty, crv, x, y } = k.privateJwk;
  const jwk = { kty, crv, x, y } as JWK;
  const kid = await calculateJwkThumbprint(jwk);
  const stored = k.publicJwk;
  if (kid !== k.kid || stored.kid !== kid || stored.x !== x || stored.y !== y || stored.crv !== crv)
    throw new KeyIntegrityError(
      `signing key ${k.kid} in the store does not match its private key: ${ALTERED}`,
    );
  return { ...jwk, kid, alg: 'ES256', use: 'sig' };
}

export interface RegistrySigner {
  key: KeyObject;
  /** base64 DER of the leaf certificate, for the x5c header. */
  x5c: string[];
  /** The leaf's NotAfter, in seconds since the epoch. */
  notAfter: number;
}

export class KeyStore {
  private keys: StoredKey[] = [];
  private signing: { kid: string; key: KeyObject } | undefined;
  private localSet: ReturnType<typeof createLocalJWKSet> | undefined;
  private published: JSONWebKeySet = { keys: [] };
  private signerPem: CertificateAndKey | undefined;
  private signer: RegistrySigner | undefined;
  private ca: CertificateAndKey | undefined;
  private unsubscribe: () => void = () => undefined;

  private constructor(
    private readonly material: KeyMaterial,
    readonly dataDir: string,
  ) {}

  /**
   * Opens the keys, creating what is missing (first start) and renewing what is due. `where`: a data dir (its files)
   * or a store and the data dir the CA certificate is written to.
   */
  static async open(
    where: string | { store: KeyMaterial; dataDir: string },
    policy: KeyPolicy = DEFAULT_KEY_POLICY,
    onReloadError: (err: unknown) => void = () => undefined,
  ): Promise<KeyStore> {
    const dataDir = typeof where === 'string' ? where : where.dataDir;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const store = new KeyStore(typeof where === 'string' ? new DataDirKeys(where) : where.store, dataDir);
    store.keys = await store.material.signingKeys();
    let changed = false;
    if (!store.keys.some((k) => k.state === 'current')) {
      store.keys.push({ ...(await newKey('current')), currentSince: now() });
      changed = true;
    }
    if (!store.keys.some((k) => k.state === 'next')) {
      store.keys.push(await newKey('next'));
      changed = true;
    }
    if (changed) await store.save();
    await store.ensureRegistryCa(policy);
    await store.refresh();
    await store.maintain(policy);
    if (store.material.onChange) {
      // A reload that fails (the database out of reach, a key refused) is said and tried again until one succeeds:
      // the change that prompted it is not announced twice.
      let retry: NodeJS.Timeout | undefined;
      const reload = () => {
        clearTimeout(retry);
        retry = undefined;
        store.reload().catch((err: unknown) => {
          onReloadError(err);
          retry ??= setTimeout(reload, RELOAD_RETRY_MS).unref();
        });
      };
      const unsubscribe = store.material.onChange((what) => {
        if (what === 'keys' || what === 'signer') reload();
      });
      store.unsubscribe = () => {
        clearTimeout(retry);
        unsubscribe();
      };
    }
    return store;
  }

  /** Reads the keys and the signer again (another process or instance rotated them). */
  async reload(): Promise<void> {
    this.keys = await this.material.signingKeys();
    this.signerPem = await this.material.registrySigner();
    this.signer = undefined;
    await this.refresh();
  }

  /** Stops listening for changes made elsewhere. */
  close(): void {
    this.unsubscribe();
  }

  /** Retires the current key, promotes the (already published) next key, publishes a new next key, and issues
   * a new registry signer from the CA. */
  async rotate(
    policy: KeyPolicy = DEFAULT_KEY_POLICY,
  ): Promise<{ retired: string; current: string; next: string }> {
    const t = now();
    const current = this.keys.find((k) => k.state === 'current');
    const next = this.keys.find((k) => k.state === 'next');
    if (!current || !next) throw new Error('key store has no current or next key');
    current.state = 'retired';
    current.publishUntil = t + MAX_TOKEN_TTL + PUBLISH_MARGIN;
    next.state = 'current';
    next.currentSince = t;
    const fresh = await newKey('next');
    this.keys.push(fresh);
    await this.save();
    await this.issueSigner(policy.signerTtl);
    await this.refresh();
    return { retired: current.kid, current: next.kid, next: fresh.kid };
  }

  /**
   * Housekeeping: rotates the signing keys when the current one has served `keyRotation`, renews the registry
   * signer when less than LEAF_RENEW_MARGIN is left of it (or it would outlive a shortened `signerTtl`), and stops
   * publishing retired keys whose tokens have all expired. Says what it did.
   */
  async maintain(
    policy: KeyPolicy,
    t: number = now(),
  ): Promise<{ rotated: boolean; renewedSigner: boolean }> {
    const current = this.keys.find((k) => k.state === 'current');
    let rotated = false;
    if (current && t - (current.currentSince ?? current.createdAt) >= policy.keyRotation) {
      await this.rotate(policy);
      rotated = true;
    }
    let renewedSigner = false;
    const notAfter = this.registrySigner().notAfter;
    if (!rotated && (notAfter - t < LEAF_RENEW_MARGIN || notAfter - t > policy.signerTtl + LEAF_BACKDATE)) {
      await this.issueSigner(policy.signerTtl);
      this.registrySigner();
      renewedSigner = true;
    }
    await this.refresh();
    return { rotated, renewedSigner };
  }

  signingKey(): { kid: string; key: KeyObject } {
    if (!this.signing) throw new Error('no signing key');
    return this.signing;
  }

  /** The published key set: next, current and the retired keys whose tokens may still be alive. */
  jwks(): JSONWebKeySet {
    return this.published;
  }

  /** Verifies project tokens: only the broker's own keys. */
  localKeySet(): ReturnType<typeof createLocalJWKSet> {
    if (!this.localSet) throw new Error('no key set');
    return this.localSet;
  }

  registrySigner(): RegistrySigner {
    if (!this.signer) {
      if (!this.signerPem) throw new Error('no registry signer');
      const cert = new X509Certificate(this.signerPem.certPem);
      const key = createPrivateKey(this.signerPem.keyPem);
      // A leaf the CA did not issue, or not for this key, would sign tokens the registry refuses: refused here.
      if (
        !cert.checkPrivateKey(key) ||
        !cert.verify(new X509Certificate(this.registryCa().certPem).publicKey)
      )
        throw new KeyIntegrityError(
          `the registry signer's certificate in the store is not its key's, or not the registry CA's: ${ALTERED}`,
        );
      this.signer = {
        key,
        x5c: [cert.raw.toString('base64')],
        notAfter: Math.floor(Date.parse(cert.validTo) / 1000),
      };
    }
    return this.signer;
  }

  caCertPath(): string {
    return join(this.dataDir, CA_CERT_FILE);
  }

  private async refresh(): Promise<void> {
    const t = now();
    const before = this.keys.length;
    this.keys = this.keys.filter((k) => k.state !== 'retired' || (k.publishUntil ?? 0) > t);
    if (this.keys.length !== before) await this.save();
    const current = this.keys.find((k) => k.state === 'current');
    if (!current) throw new Error('no current key');
    // mint.ts signs with node:crypto on this KeyObject, made once per key (never per signature).
    this.signing = { kid: current.kid, key: createPrivateKey({ key: current.privateJwk, format: 'jwk' }) };
    const order = { next: 0, current: 1, retired: 2 } as const;
    const sorted = [...this.keys].sort((a, b) => order[a.state] - order[b.state]);
    this.published = { keys: await Promise.all(sorted.map((k) => publishedJwk(k))) };
    this.localSet = createLocalJWKSet(this.published);
    this.registrySigner();
  }

  private save(): Promise<void> {
    return this.material.saveSigningKeys(this.keys);
  }

  /** The CA in force (made once, never replaced), its certificate in the data dir; a signer leaf of it. */
  private async ensureRegistryCa(policy: KeyPolicy): Promise<void> {
    this.ca =
      (await this.material.registryCa()) ?? (await this.material.initRegistryCa(await createRegistryCa()));
    const caCert = new X509Certificate(this.ca.certPem);
    if (!caCert.checkPrivateKey(createPrivateKey(this.ca.keyPem)))
      throw new KeyIntegrityError(`the registry CA's certificate in the store is not its key's: ${ALTERED}`);
    const certFile = join(this.dataDir, CA_CERT_FILE);
    const written = readCertificate(this.dataDir);
    if (written !== this.ca.certPem) {
      // A SQLite data dir under another CA (a store that did not take it over): its own certificate is kept, beside
      // the key it pairs with, so the data dir can still go back to SQLite (DataDirKeys names the file then).
      if (written && pairsWithCaKey(this.dataDir, written)) {
        renameSync(certFile, join(this.dataDir, CA_CERT_SET_ASIDE));
      }
      writeAtomic(certFile, this.ca.certPem);
    }
    this.signerPem = await this.material.registrySigner();
    if (!this.signerPem) await this.issueSigner(policy.signerTtl);
  }

  /** A new leaf valid from LEAF_BACKDATE ago for `ttl` seconds from now. */
  private async issueSigner(ttl: number): Promise<void> {
    const t = Date.now();
    const leaf = await issueRegistryLeaf(this.registryCa(), {
      notBefore: new Date(t - LEAF_BACKDATE * 1000),
      notAfter: new Date(t + ttl * 1000),
    });
    await this.material.saveRegistrySigner(leaf);
    this.signerPem = leaf;
    this.signer = undefined;
  }

  /** The CA's certificate and key as PEM (tests use it to issue a leaf of their own). */
  registryCa(): { certPem: string; keyPem: string } {
    if (!this.ca) throw new Error('no registry CA');
    return this.ca;
  }
}
