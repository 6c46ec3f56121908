// The project token the CLI was handed, read without verifying the signature: the cache registry's token service
// and the broker verify it; the CLI only needs to know the project, the scope and where the cache is. It still
// refuses, before anything runs, a token that is not a project token or that has expired. The claims are checked
// by the contract's reader, the same one the broker's registry token service uses.
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { ProjectTokenError, readProjectToken as readClaims } from '../../shared/contract/project-token';
import type { ProjectToken as Claims } from '../../shared/contract/project-token';
import { UserError } from './errors';

export type { Scope } from '../../shared/contract/project-token';

export interface ProjectToken extends Claims {
  /** The raw token (a secret: never logged). */
  raw: string;
}

const WHERE = 'DEPOT_TOKEN (or --token)';

export function readProjectToken(
  raw: string,
  now: Date = new Date(),
  /** Where the token came from, for messages. */
  where: string = WHERE,
): ProjectToken {
  const token = raw.trim();
  let header: ReturnType<typeof decodeProtectedHeader>;
  let payload: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(token);
    payload = decodeJwt(token);
  } catch {
    throw new UserError(
      `${where} is not a JWT: pass the project token the broker minted (or the setup action exported).`,
    );
  }
  let claims: Claims;
  try {
    claims = readClaims(header, payload);
  } catch (err: unknown) {
    if (!(err instanceof ProjectTokenError)) throw err;
    throw new UserError(
      `${where} is not a depot project token (${err.message}): exchange your CI's OIDC token at the broker for a project token.`,
    );
  }
  if (claims.expiresAt.getTime() <= now.getTime()) {
    throw new UserError(
      `${where} expired at ${claims.expiresAt.toISOString()}: get a fresh project token (project tokens live minutes to an hour).`,
    );
  }
  return { ...claims, raw: token };
}
