// mint: a decision -> a project token (ES256, kid, typ depot-project+jwt) signed with the current key.
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { PROJECT_TOKEN_TYP, projectAudience, projectSubject } from '../../shared/contract/project-token';
import type { ProjectTokenClaims, SourceIdentity } from '../../shared/contract/project-token';
import type { BrokerConfig } from './config';
import type { KeyStore } from './keys';
import type { Decision } from './policy';

export interface Minted {
  token: string;
  jti: string;
  scope: string;
  expiresAt: Date;
  sha256: string;
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
  const token = await new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'ES256', kid, typ: PROJECT_TOKEN_TYP })
    .setIssuer(config.publicUrl)
    .setSubject(projectSubject(decision.project.id))
    .setAudience(projectAudience(config.publicUrl))
    .setJti(jti)
    .setIssuedAt(nowSeconds)
    .setNotBefore(nowSeconds)
    .setExpirationTime(exp)
    .sign(key);
  return { token, jti, scope, expiresAt: new Date(exp * 1000), sha256: sha256(token) };
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
