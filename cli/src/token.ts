// The project token's claims, read without verifying the signature: the cache registry's token service and the
// broker verify it; the CLI only needs to know the project, the scope and where the cache is. It still refuses,
// before anything runs, a token that is not a project token or that has expired.
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { UserError } from './errors';

export const PROJECT_TOKEN_TYP = 'depot-project+jwt';

export type Scope = 'build' | 'cache:read' | 'cache:write';

export interface ProjectToken {
  /** The raw token (a secret: never logged). */
  raw: string;
  project: string;
  isolated: boolean;
  scopes: Set<Scope>;
  /** `<registry host>/<cache repository>`; absent when isolated. */
  cache?: { host: string; repository: string };
  /** `iss`: the broker that minted it. */
  issuer?: string;
  expiresAt: Date;
}

const WHERE = 'DEPOT_TOKEN (or --token)';

export function readProjectToken(raw: string, now: Date = new Date()): ProjectToken {
  const token = raw.trim();
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(token);
    claims = decodeJwt(token);
  } catch {
    throw new UserError(
      `${WHERE} is not a JWT: pass the project token the broker minted (or the setup action exported).`,
    );
  }
  if (header.typ !== PROJECT_TOKEN_TYP) {
    throw new UserError(
      `${WHERE} is not a depot project token (its header typ is "${header.typ ?? ''}", expected "${PROJECT_TOKEN_TYP}"): exchange your CI's OIDC token at the broker for a project token.`,
    );
  }
  if (typeof claims.exp !== 'number')
    throw new UserError(`${WHERE} has no exp claim: it is not a depot project token.`);
  const expiresAt = new Date(claims.exp * 1000);
  if (expiresAt.getTime() <= now.getTime()) {
    throw new UserError(
      `${WHERE} expired at ${expiresAt.toISOString()}: get a fresh project token (project tokens live minutes to an hour).`,
    );
  }
  const project = typeof claims.project === 'string' ? claims.project : '';
  if (!project) throw new UserError(`${WHERE} has no project claim: it is not a depot project token.`);
  const isolated = claims.isolated === true;
  const scopes = new Set<Scope>();
  if (typeof claims.scope === 'string') {
    for (const s of claims.scope.split(/\s+/))
      if (s === 'build' || s === 'cache:read' || s === 'cache:write') scopes.add(s);
  }
  const out: ProjectToken = { raw: token, project, isolated, scopes, expiresAt };
  if (typeof claims.iss === 'string') out.issuer = claims.iss;
  if (!isolated && typeof claims.cache === 'string' && claims.cache !== '') {
    const slash = claims.cache.indexOf('/');
    if (slash <= 0 || slash === claims.cache.length - 1) {
      throw new UserError(`${WHERE} has a malformed cache claim (expected <registry host>/<repository>).`);
    }
    out.cache = { host: claims.cache.slice(0, slash), repository: claims.cache.slice(slash + 1) };
  }
  return out;
}
