// mint: a decision -> a project token (ES256, kid, typ depot-project+jwt) signed with the current key.
import { hash, randomUUID } from 'node:crypto';
import { PROJECT_TOKEN_TYP, projectAudience, projectSubject } from '../../shared/contract/project-token';
import type { ProjectTokenClaims, SourceIdentity } from '../../shared/contract/project-token';
import type { BrokerConfig } from './config';
import { cryptoThread } from './crypto-thread';
import { derToJose } from './ecdsa';
import type { KeyStore } from './keys';
import type { Decision } from './policy';

export interface Minted {
  token: string;
  jti: string;
  scope: string;
  expiresAt: Date;
  sha256: string;
}

let header: { kid: string; encoded: string } | undefined;

/** The encoded protected header for `kid` (the same for every token that key signs). */
function protectedHeader(kid: string): string {
  if (header?.kid !== kid) {
    const json = JSON.stringify({ alg: 'ES256', kid, typ: PROJECT_TOKEN_TYP });
    header = { kid, encoded: Buffer.from(json).toString('base64url') };
  }
  return header.encoded;
}

export async function mintProjectToken(
  config: BrokerConfig,
  keys: KeyStore,
  decision: Decision,
  identity: SourceIdentity,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): Promise<Minted> {
  const { kid, key } = keys.signingKey();
  const jti = randomUUID();
  const exp = nowSeconds + config.tokenTtl;
  const scope = decision.grants.join(' ');
  const claims: ProjectTokenClaims = {
    ...identity,
    project: decision.project.id,
    isolated: decision.isolated,
    scope,
    rule: decision.rule.id,
  };
  if (!decision.isolated) claims.cache = `${config.registry.host}/${decision.project.cacheRepository}`;
  // The header and claims jose's SignJWT would write (same members, same order), signed with node:crypto's sign() on
  // the cached KeyObject, on the crypto thread (crypto-thread.ts: the event loop hands it over instead of spending the
  // signature's time). The key goes bare and the signature comes as DER, made r || s (as JWS wants) by derToJose:
  // node:crypto's own ieee-p1363 option doubles the cost of the signature on Node 24 (ecdsa.ts).
  if (!Number.isFinite(exp)) throw new TypeError('"iat", "nbf" and "exp" must be finite numbers');
  const payload: Record<string, unknown> = {
    ...claims,
    iss: config.publicUrl,
    sub: projectSubject(decision.project.id),
    aud: projectAudience(config.publicUrl),
    jti,
    iat: nowSeconds,
    nbf: nowSeconds,
    exp,
  };
  const input = `${protectedHeader(kid)}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const signature = derToJose(await cryptoThread.sign('sha256', Buffer.from(input, 'latin1'), key), 32);
  const token = `${input}.${signature.toString('base64url')}`;
  return { token, jti, scope, expiresAt: new Date(exp * 1000), sha256: sha256(token) };
}

/** The hex SHA-256 of `text` (UTF-8), one-shot: a third cheaper than a Hash object. */
export function sha256(text: string): string {
  return hash('sha256', text, 'hex');
}
