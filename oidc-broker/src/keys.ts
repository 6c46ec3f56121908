// The broker's keys, kept in its data directory:
// - project-token signing keys (ES256): `next` is published before it signs, `current` signs, `retired` keys stay
//   published until every token they signed has expired. keys.json, mode 0600, replaced atomically.
// - the registry CA (long-lived, its certificate is the registry's rootcertbundle) and the registry token signer, a
//   leaf certificate the CA issues; registry tokens carry the leaf in x5c and are signed only by its key. Rotation
//   issues a new leaf from the same CA, so the registry needs no restart.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, importJWK } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWK } from 'jose';
import { MAX_TOKEN_TTL } from './config';

export interface StoredKey {
  kid: string;
  state: 'next' | 'current' | 'retired';
  privateJwk: JWK;
  publicJwk: JWK;
  createdAt: number;
  /** Seconds since the epoch; set for retired keys. */
  publishUntil?: number;
}

interface KeysFile {
  version: 1;
  keys: StoredKey[];
}

export const CA_CERT_FILE = 'registry-ca.pem';
const CA_KEY_FILE = 'registry-ca-key.pem';
const SIGNER_CERT_FILE = 'registry-signer.pem';
const SIGNER_KEY_FILE = 'registry-signer-key.pem';
const KEYS_FILE = 'keys.json';
/** How long past a retired key's last token it stays published (clock skew of verifiers). */
const PUBLISH_MARGIN = 120;

const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = depot broker
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
authorityKeyIdentifier = keyid
`;

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
}

export class KeyStore {
  private keys: StoredKey[] = [];
  private signing: { kid: string; key: KeyObject | CryptoKey } | undefined;
  private localSet: ReturnType<typeof createLocalJWKSet> | undefined;
  private published: JSONWebKeySet = { keys: [] };
  private signer: RegistrySigner | undefined;

  private constructor(readonly dataDir: string) {}

  /** Opens the data directory's keys, creating what is missing (first start). */
  static async open(dataDir: string): Promise<KeyStore> {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const store = new KeyStore(dataDir);
    const file = join(dataDir, KEYS_FILE);
    if (existsSync(file)) {
      store.keys = (JSON.parse(readFileSync(file, 'utf8')) as KeysFile).keys;
    }
    let changed = false;
    if (!store.keys.some((k) => k.state === 'current')) {
      store.keys.push(await newKey('current'));
      changed = true;
    }
    if (!store.keys.some((k) => k.state === 'next')) {
      store.keys.push(await newKey('next'));
      changed = true;
    }
    if (changed) store.save();
    store.ensureRegistryCa();
    store.refresh();
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
  async rotate(): Promise<{ retired: string; current: string; next: string }> {
    const t = now();
    const current = this.keys.find((k) => k.state === 'current');
    const next = this.keys.find((k) => k.state === 'next');
    if (!current || !next) throw new Error('key store has no current or next key');
    current.state = 'retired';
    current.publishUntil = t + MAX_TOKEN_TTL + PUBLISH_MARGIN;
    next.state = 'current';
    const fresh = await newKey('next');
    this.keys.push(fresh);
    this.save();
    this.issueSigner();
    this.signer = undefined;
    this.refresh();
    return { retired: current.kid, current: next.kid, next: fresh.kid };
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
      };
    }
    return this.signer;
  }

  caCertPath(): string {
    return join(this.dataDir, CA_CERT_FILE);
  }

  /** Stops publishing retired keys whose tokens have all expired. */
  prune(): void {
    this.refresh();
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

  private ensureRegistryCa(): void {
    if (!existsSync(join(this.dataDir, CA_CERT_FILE))) {
      const dir = join(this.dataDir, `.ca-${process.pid}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      try {
        writeFileSync(join(dir, 'openssl.cnf'), OPENSSL_CNF);
        openssl(dir, [
          'req',
          '-x509',
          '-config',
          'openssl.cnf',
          '-extensions',
          'ca',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          'ca-key.pem',
          '-out',
          'ca.pem',
          '-days',
          '3650',
          '-subj',
          '/CN=depot broker registry CA',
        ]);
        writeAtomic(join(this.dataDir, CA_KEY_FILE), readFileSync(join(dir, 'ca-key.pem'), 'utf8'));
        writeAtomic(join(this.dataDir, CA_CERT_FILE), readFileSync(join(dir, 'ca.pem'), 'utf8'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    if (!existsSync(join(this.dataDir, SIGNER_CERT_FILE))) this.issueSigner();
  }

  private issueSigner(): void {
    const dir = join(this.dataDir, `.signer-${process.pid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(join(dir, 'openssl.cnf'), OPENSSL_CNF);
      openssl(dir, [
        'req',
        '-new',
        '-config',
        'openssl.cnf',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'leaf.csr',
        '-subj',
        '/CN=depot broker registry token signer',
      ]);
      openssl(dir, [
        'x509',
        '-req',
        '-in',
        'leaf.csr',
        '-CA',
        join(this.dataDir, CA_CERT_FILE),
        '-CAkey',
        join(this.dataDir, CA_KEY_FILE),
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-days',
        '825',
        '-extfile',
        'openssl.cnf',
        '-extensions',
        'leaf',
        '-out',
        'leaf.pem',
      ]);
      // Key first: a reader that sees the new certificate always finds its key.
      writeAtomic(join(this.dataDir, SIGNER_KEY_FILE), readFileSync(join(dir, 'key.pem'), 'utf8'));
      writeAtomic(join(this.dataDir, SIGNER_CERT_FILE), readFileSync(join(dir, 'leaf.pem'), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function openssl(cwd: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err: unknown) {
    const stderr = (err as { stderr?: Buffer } | null)?.stderr?.toString().trim().split('\n').pop() ?? '';
    throw new Error(
      `openssl ${args[0] ?? ''} failed while creating the registry CA (${stderr || 'is openssl installed?'})`,
    );
  }
}
