// The broker's keys, kept in its data directory:
// - project-token signing keys (ES256): `next` is published before it signs, `current` signs, `retired` keys stay
//   published until every token they signed has expired. keys.json, mode 0600, replaced atomically. The current
//   key is retired on a schedule (`key_rotation`) and on `rotate-keys`.
// - the registry CA (long-lived, its certificate is the registry's rootcertbundle) and the registry token signer, a
//   short-lived leaf certificate the CA issues (`registry_signer_ttl`); registry tokens carry the leaf in x5c and
//   are signed only by its key. The registry checks the leaf's validity period itself, so a leaf stops working when
//   it expires; it is renewed well before that, from the same CA, so the registry needs no restart.
// The certificates are made in-process (x509.ts): no `openssl` program.
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, importJWK } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWK } from 'jose';
import { MAX_TOKEN_TTL } from './config';
import { createRegistryCa, issueRegistryLeaf } from './x509';

export interface StoredKey {
  kid: string;
  state: 'next' | 'current' | 'retired';
  privateJwk: JWK;
  publicJwk: JWK;
  createdAt: number;
  /** When it became the current key (seconds since the epoch); createdAt for keys stored before this existed. */
  currentSince?: number;
  /** Seconds since the epoch; set for retired keys. */
  publishUntil?: number;
}

interface KeysFile {
  version: 1;
  keys: StoredKey[];
}

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

export const CA_CERT_FILE = 'registry-ca.pem';
const CA_KEY_FILE = 'registry-ca-key.pem';
const SIGNER_CERT_FILE = 'registry-signer.pem';
const SIGNER_KEY_FILE = 'registry-signer-key.pem';
const KEYS_FILE = 'keys.json';
/** How long past a retired key's last token it stays published (clock skew of verifiers). */
const PUBLISH_MARGIN = 120;

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function writeAtomic(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
}

async function newKey(state: StoredKey['state']): Promise<StoredKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = publicKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    state,
    privateJwk: privateKey.export({ format: 'jwk' }) as JWK,
    publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' },
    createdAt: now(),
  };
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
  private signing: { kid: string; key: KeyObject | CryptoKey } | undefined;
  private localSet: ReturnType<typeof createLocalJWKSet> | undefined;
  private published: JSONWebKeySet = { keys: [] };
  private signer: RegistrySigner | undefined;

  private constructor(readonly dataDir: string) {}

  /** Opens the data directory's keys, creating what is missing (first start) and renewing what is due. */
  static async open(dataDir: string, policy: KeyPolicy = DEFAULT_KEY_POLICY): Promise<KeyStore> {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const store = new KeyStore(dataDir);
    const file = join(dataDir, KEYS_FILE);
    if (existsSync(file)) {
      store.keys = (JSON.parse(readFileSync(file, 'utf8')) as KeysFile).keys;
    }
    let changed = false;
    if (!store.keys.some((k) => k.state === 'current')) {
      store.keys.push({ ...(await newKey('current')), currentSince: now() });
      changed = true;
    }
    if (!store.keys.some((k) => k.state === 'next')) {
      store.keys.push(await newKey('next'));
      changed = true;
    }
    if (changed) store.save();
    await store.ensureRegistryCa(policy);
    store.refresh();
    await store.maintain(policy);
    return store;
  }

  /** Re-reads keys.json and the signer (after another process rotated them). */
  reload(): void {
    this.keys = (JSON.parse(readFileSync(join(this.dataDir, KEYS_FILE), 'utf8')) as KeysFile).keys;
    this.signer = undefined;
    this.refresh();
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
    this.save();
    await this.issueSigner(policy.signerTtl);
    this.signer = undefined;
    this.refresh();
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
      this.signer = undefined;
      this.registrySigner();
      renewedSigner = true;
    }
    this.refresh();
    return { rotated, renewedSigner };
  }

  signingKey(): { kid: string; key: KeyObject | CryptoKey } {
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
      const pem = readFileSync(join(this.dataDir, SIGNER_CERT_FILE), 'utf8');
      const cert = new X509Certificate(pem);
      this.signer = {
        key: createPrivateKey(readFileSync(join(this.dataDir, SIGNER_KEY_FILE), 'utf8')),
        x5c: [cert.raw.toString('base64')],
        notAfter: Math.floor(Date.parse(cert.validTo) / 1000),
      };
    }
    return this.signer;
  }

  caCertPath(): string {
    return join(this.dataDir, CA_CERT_FILE);
  }

  private refresh(): void {
    const t = now();
    const before = this.keys.length;
    this.keys = this.keys.filter((k) => k.state !== 'retired' || (k.publishUntil ?? 0) > t);
    if (this.keys.length !== before) this.save();
    const current = this.keys.find((k) => k.state === 'current');
    if (!current) throw new Error('no current key');
    const signing = { kid: current.kid, key: createPrivateKey({ key: current.privateJwk, format: 'jwk' }) };
    this.signing = signing;
    // jose signs with a WebCrypto key; converting the KeyObject on every signature is measurable, so swap in an
    // imported CryptoKey as soon as it is ready (the KeyObject signs meanwhile).
    importJWK(current.privateJwk, 'ES256').then(
      (k) => {
        if (this.signing === signing) this.signing = { kid: signing.kid, key: k as CryptoKey };
      },
      () => undefined,
    );
    const order = { next: 0, current: 1, retired: 2 } as const;
    this.published = {
      keys: [...this.keys].sort((a, b) => order[a.state] - order[b.state]).map((k) => k.publicJwk),
    };
    this.localSet = createLocalJWKSet(this.published);
    this.registrySigner();
  }

  private save(): void {
    const file: KeysFile = { version: 1, keys: this.keys };
    writeAtomic(join(this.dataDir, KEYS_FILE), `${JSON.stringify(file, null, 2)}\n`);
  }

  private async ensureRegistryCa(policy: KeyPolicy): Promise<void> {
    if (!existsSync(join(this.dataDir, CA_CERT_FILE))) {
      const ca = await createRegistryCa();
      writeAtomic(join(this.dataDir, CA_KEY_FILE), ca.keyPem);
      writeAtomic(join(this.dataDir, CA_CERT_FILE), ca.certPem);
    }
    if (!existsSync(join(this.dataDir, SIGNER_CERT_FILE))) await this.issueSigner(policy.signerTtl);
  }

  /** A new leaf valid from LEAF_BACKDATE ago for `ttl` seconds from now. */
  private async issueSigner(ttl: number): Promise<void> {
    const t = Date.now();
    const leaf = await issueRegistryLeaf(this.registryCa(), {
      notBefore: new Date(t - LEAF_BACKDATE * 1000),
      notAfter: new Date(t + ttl * 1000),
    });
    // Key first: a reader that sees the new certificate always finds its key.
    writeAtomic(join(this.dataDir, SIGNER_KEY_FILE), leaf.keyPem);
    writeAtomic(join(this.dataDir, SIGNER_CERT_FILE), leaf.certPem);
  }

  /** The CA's certificate and key as PEM (tests use it to issue a leaf of their own). */
  registryCa(): { certPem: string; keyPem: string } {
    return {
      certPem: readFileSync(join(this.dataDir, CA_CERT_FILE), 'utf8'),
      keyPem: readFileSync(join(this.dataDir, CA_KEY_FILE), 'utf8'),
    };
  }
}
