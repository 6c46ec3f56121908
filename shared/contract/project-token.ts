// The project token the broker mints and the CLI and the registry token service read (DESIGN.md "Project tokens"):
// an ES256 JWT with header `typ: depot-project+jwt`, `sub: project:<id>`, `aud: <broker>/project`, and the claims
// below. readProjectToken checks the shape of its claims; verifying the signature is the broker's business (the
// CLI reads a token it was handed, and the registry refuses it anyway when it is forged).
import type { CiProvider } from './exchange';
import { PROJECT_ID } from './project';

/** The header `typ` that tells a project token from a CI's OIDC token, both ways. */
export const PROJECT_TOKEN_TYP = 'depot-project+jwt';

export const SCOPES = ['build', 'cache:read', 'cache:write'] as const;
export type Scope = (typeof SCOPES)[number];

/** `aud` of project tokens minted by the broker at `brokerUrl` (its public URL). */
export function projectAudience(brokerUrl: string): string {
  return `${brokerUrl}/project`;
}

export function projectSubject(project: string): string {
  return `project:${project}`;
}

/** Where a token came from, copied from the CI token (or, for a fork pull request, from what GitHub's API shows of
 * the claimed run) into the project token and the audit. */
export interface SourceIdentity {
  provider: CiProvider;
  repository?: string;
  repository_id?: string;
  ref?: string;
  sha?: string;
  run_id?: string;
  run_attempt?: string;
  workflow_ref?: string;
  event_name?: string;
  environment?: string;
  /** Fork pull requests (the claim flow): the pull request number, as a decimal string. */
  pull_request?: string;
  /** Fork pull requests: the head repository (the fork), owner/name. */
  head_repository?: string;
  /** Fork pull requests: the head commit of the pull request that the run built. */
  head_sha?: string;
  /** Fork pull requests: the workflow file of the run (e.g. .github/workflows/ci.yml). */
  workflow_path?: string;
}

/** The private claims of a project token (the registered ones, iss/sub/aud/jti/iat/nbf/exp, come from SignJWT). */
export interface ProjectTokenClaims extends SourceIdentity {
  project: string;
  isolated: boolean;
  /** Space-separated scopes. */
  scope: string;
  /** The id of the trust rule that matched. */
  rule: string;
  /** `<registry host>/<cache repository>`; absent when isolated. */
  cache?: string;
}

/** A project token's claims as its readers use them. */
export interface ProjectToken {
  project: string;
  isolated: boolean;
  scopes: Set<Scope>;
  /** Absent when isolated (an isolated token never opens a cache). */
  cache?: { host: string; repository: string };
  /** `iss`: the broker that minted it. */
  issuer?: string;
  subject?: string;
  rule?: string;
  /** `jti`: what `broker revoke --jti` names. */
  id?: string;
  /** `iat`. */
  issuedAt?: Date;
  expiresAt: Date;
}

/** A claim or header field that breaks the contract; `field` names it, the message says what was expected. */
export class ProjectTokenError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProjectTokenError';
  }
}

/** Checks the header and claims of a (decoded) project token and returns what its readers use. */
export function readProjectToken(header: { typ?: unknown }, claims: Record<string, unknown>): ProjectToken {
  if (header.typ !== PROJECT_TOKEN_TYP) {
    throw new ProjectTokenError(
      'typ',
      `its header typ is ${JSON.stringify(header.typ ?? '')}, expected "${PROJECT_TOKEN_TYP}"`,
    );
  }
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) {
    throw new ProjectTokenError('exp', 'it has no numeric exp claim');
  }
  const project = claims.project;
  if (typeof project !== 'string' || !PROJECT_ID.test(project)) {
    throw new ProjectTokenError('project', 'its project claim is missing or not a project id');
  }
  if (typeof claims.isolated !== 'boolean') {
    throw new ProjectTokenError('isolated', 'its isolated claim is missing or not true/false');
  }
  if (typeof claims.scope !== 'string') throw new ProjectTokenError('scope', 'it has no scope claim');
  const scopes = new Set<Scope>();
  for (const s of claims.scope.split(/\s+/)) {
    // A scope this reader does not know (a newer broker's) grants nothing here; it is not an error.
    if ((SCOPES as readonly string[]).includes(s)) scopes.add(s as Scope);
  }
  const token: ProjectToken = {
    project,
    isolated: claims.isolated,
    scopes,
    expiresAt: new Date(claims.exp * 1000),
  };
  if (typeof claims.iss === 'string') token.issuer = claims.iss;
  if (typeof claims.sub === 'string') token.subject = claims.sub;
  if (typeof claims.rule === 'string') token.rule = claims.rule;
  if (typeof claims.jti === 'string') token.id = claims.jti;
  if (typeof claims.iat === 'number' && Number.isFinite(claims.iat))
    token.issuedAt = new Date(claims.iat * 1000);
  // An isolated token opens no cache, whatever else it says: the registry refuses it every repository too.
  if (claims.cache !== undefined && !token.isolated) {
    const cache = typeof claims.cache === 'string' ? claims.cache : '';
    const slash = cache.indexOf('/');
    if (slash <= 0 || slash === cache.length - 1) {
      throw new ProjectTokenError('cache', 'its cache claim is not <registry host>/<repository>');
    }
    token.cache = { host: cache.slice(0, slash), repository: cache.slice(slash + 1) };
  }
  return token;
}
