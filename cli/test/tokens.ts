// Real ES256 project tokens for tests, shaped as the broker mints them (the CLI does not verify the signature).
import { generateKeyPair, SignJWT } from 'jose';

const keys = generateKeyPair('ES256');

export interface TokenOptions {
  project?: string;
  scope?: string;
  cache?: string;
  isolated?: boolean;
  typ?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  extra?: Record<string, unknown>;
}

export async function projectToken(o: TokenOptions = {}): Promise<string> {
  const { privateKey } = await keys;
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    project: o.project ?? 'web',
    scope: o.scope ?? 'build cache:read cache:write',
    isolated: o.isolated ?? false,
    ...o.extra,
  };
  if (o.cache !== undefined) claims.cache = o.cache;
  else if (!o.isolated) claims.cache = 'localhost:5001/cache/web';
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: o.typ ?? 'depot-project+jwt', kid: 'k1' })
    .setIssuer('http://127.0.0.1:8080')
    .setSubject(`project:${o.project ?? 'web'}`)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expiresIn ?? 600))
    .sign(privateKey);
}
