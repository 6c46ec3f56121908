// RSA and EC (P-256) key pairs for tests, made so that exporting them cannot hang the process. Node 20 can deadlock
// when a key that crypto.generateKeyPair[Sync] (or WebCrypto's generateKey) has just made is exported as a JWK: the
// export holds the key's mutex while it allocates, a garbage collection then runs the finished generation job's
// destructor, which takes the same mutex (seen in a CI run: the test worker blocked for good in ExportJWKRsaKey under
// ~KeyGenJob). The halves returned here are encoded by the generation itself and imported again, so they share
// nothing with its job.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';

export interface TestKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as a JWK. */
  publicJwk: JWK;
}

export function rsaKeyPair(modulusLength = 2048): TestKeyPair {
  return imported(
    generateKeyPairSync('rsa', {
      modulusLength,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    }),
  );
}

export function ecKeyPair(namedCurve = 'P-256'): TestKeyPair {
  return imported(
    generateKeyPairSync('ec', {
      namedCurve,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    }),
  );
}

function imported(pair: { publicKey: string; privateKey: string }): TestKeyPair {
  const publicKey = createPublicKey(pair.publicKey);
  return {
    privateKey: createPrivateKey(pair.privateKey),
    publicKey,
    publicJwk: publicKey.export({ format: 'jwk' }) as JWK,
  };
}
