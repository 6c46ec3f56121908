// A throwaway TLS identity for a test's server: a CA and a server certificate it issued for loopback names, made
// in-process (WebCrypto and @peculiar/x509, ECDSA P-256). Clients trust the CA through their own settings (Node's
// NODE_EXTRA_CA_CERTS, fetch's `ca`); the system trust store is never touched.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const subtle = webcrypto.subtle;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

x509.cryptoProvider.set(
  webcrypto as unknown as x509.CryptoProvider extends { set(v: infer C): unknown } ? C : never,
);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

export interface TestTls {
  /** The CA certificate (PEM): what a client trusts. */
  caPem: string;
  /** The server certificate (PEM), issued by the CA. */
  certPem: string;
  /** The server certificate's private key (PKCS#8 PEM). */
  keyPem: string;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

async function pkcs8Pem(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** A CA valid for a day and a server certificate for `localhost` and 127.0.0.1 (plus `dnsNames`). */
export async function testTls(dnsNames: string[] = []): Promise<TestTls> {
  const now = Date.now();
  const validity = { notBefore: new Date(now - 5 * 60_000), notAfter: new Date(now + 86_400_000) };
  const caKeys = (await subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=depot test CA',
    ...validity,
    signingAlgorithm: SIGNING,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = (await subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=localhost',
    issuer: ca.subject,
    ...validity,
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey as Parameters<typeof x509.X509CertificateGenerator.create>[0]['publicKey'],
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        { type: 'ip', value: '127.0.0.1' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca, false),
    ],
  });
  return { caPem: ca.toString('pem'), certPem: cert.toString('pem'), keyPem: await pkcs8Pem(keys) };
}
