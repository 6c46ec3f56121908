// The cache registry's token service (Docker token spec): a project token as the password, verified with the
// broker's own keys only, becomes a short registry token granting exactly the pull/push actions DESIGN.md's
// "Registry grants" allow. Registry tokens are ES256, signed by the registry signer whose certificate (issued by
// the broker's registry CA) rides in x5c.
import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import {
  PROJECT_TOKEN_TYP,
  projectAudience,
  ProjectTokenError,
  readProjectToken,
} from '../../shared/contract/project-token';
import type { ProjectToken } from '../../shared/contract/project-token';
import { savedBuildsRepository } from '../../shared/contract/project';
import type { BrokerConfig, ProjectConfig } from './config';
import { BrokerError } from './errors';
import { REGISTRY_TOKEN_TTL } from './keys';
import type { BrokerDeps, RequestContext } from './exchange';
import { auditLater, auditRefusal, logFields, stateUnavailable } from './exchange';
import { PROVIDERS } from './providers';
import type { AuditRecord } from './state';
import { StoreUnavailableError } from './state';

export { REGISTRY_TOKEN_TTL } from './keys';

export interface TokenRequest {
  /** The project token (Basic auth password, or the form's password). */
  password: string | undefined;
  service: string | undefined;
  /** Every scope asked for (repeated `scope` parameters, each possibly space-separated). */
  scopes: string[];
}

export interface Access {
  type: 'repository';
  name: string;
  actions: string[];
}

export interface RegistryTokenResult {
  token: string;
  expiresIn: number;
  issuedAt: string;
  access: Access[];
}

/** Reads the Authorization header of a GET (Basic user:password). */
export function basicPassword(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

export function splitScopes(values: string[]): string[] {
  return values.flatMap((v) => v.split(' ')).filter((s) => s !== '');
}

interface ParsedScope {
  type: string;
  name: string;
  actions: string[];
}

function parseScope(scope: string): ParsedScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

/** The actions a project token may have on one repository: "Registry grants" in DESIGN.md. */
export function allowedActions(project: ProjectConfig, token: ProjectToken, repository: string): Set<string> {
  const allowed = new Set<string>();
  if (token.isolated || token.project !== project.id) return allowed;
  if (repository === project.cacheRepository) {
    if (token.scopes.has('cache:read')) allowed.add('pull');
    if (token.scopes.has('cache:write')) allowed.add('push');
  } else if (repository === savedBuildsRepository(project.id)) {
    allowed.add('pull');
    if (token.scopes.has('cache:write')) allowed.add('push');
  }
  return allowed;
}

interface VerifiedProjectToken {
  token: ProjectToken;
  /** Every claim, for the provider's grant caps (event_name, ...). */
  claims: Record<string, unknown>;
}

async function verifyProjectToken(
  config: BrokerConfig,
  deps: BrokerDeps,
  password: string,
): Promise<VerifiedProjectToken> {
  try {
    const { payload, protectedHeader } = await jwtVerify(password, deps.keys.localKeySet(), {
      issuer: config.publicUrl,
      audience: projectAudience(config.publicUrl),
      algorithms: ['ES256'],
      typ: PROJECT_TOKEN_TYP,
      clockTolerance: 5,
      requiredClaims: ['exp', 'iat', 'sub', 'project', 'scope'],
    });
    return { token: readProjectToken(protectedHeader, payload), claims: payload };
  } catch (err: unknown) {
    if (err instanceof ProjectTokenError) {
      deps.log.warn(
        { field: err.field },
        `a project token signed by this broker breaks the contract: ${err.message}`,
      );
    }
    throw new BrokerError(
      'unauthorized',
      'the password is not a valid project token of this broker (expired, or not minted here): exchange a fresh CI OIDC token',
    );
  }
}

/**
 * What a project token may do now: its scope, cut to what its rule grants in the config in force. A rule that was
 * removed, or a project that was, grants nothing; a rule made `isolated` grants no cache.
 */
export function currentGrants(config: BrokerConfig, v: VerifiedProjectToken): ProjectToken {
  const project = config.projects.find((p) => p.id === v.token.project);
  const rule = project?.rules.find((r) => r.id === v.token.rule);
  const provider = rule ? PROVIDERS[rule.provider] : undefined;
  if (!project || !rule || !provider) {
    throw new BrokerError(
      'unauthorized',
      'the trust rule this project token was minted under is no longer in the broker config: exchange a fresh CI OIDC token',
      { field: 'rule' },
    );
  }
  if (rule.isolated) return { ...v.token, isolated: true, scopes: new Set(['build']) };
  const now = new Set(provider.capGrants(v.claims, rule.fields, rule.grants));
  return { ...v.token, scopes: new Set([...v.token.scopes].filter((s) => now.has(s))) };
}

export async function registryToken(
  deps: BrokerDeps,
  req: TokenRequest,
  ctx: RequestContext = { requestId: '', client: '' },
): Promise<RegistryTokenResult> {
  const config = deps.config();
  const record: AuditRecord = {
    at: Math.floor(Date.now() / 1000),
    kind: 'registry_token',
    provider: '',
    issuer: config.publicUrl,
    outcome: 'ok',
    requestId: ctx.requestId || undefined,
    client: ctx.client || undefined,
    requested: req.scopes.join(' ') || undefined,
  };
  try {
    const result = await grant(deps, config, req, record);
    deps.metrics.registryTokens.inc({ outcome: 'ok' });
    record.granted = result.access.map((a) => `repository:${a.name}:${a.actions.join(',')}`).join(' ');
    auditLater(deps, record);
    // The record's fields, bounded as its row is (`requested` and `granted` carry the access).
    deps.log.info(logFields(record, 'registry_token'), 'registry token issued');
    return result;
  } catch (err: unknown) {
    const e =
      err instanceof BrokerError
        ? err
        : err instanceof StoreUnavailableError
          ? stateUnavailable(err)
          : new BrokerError('internal', 'the registry token failed inside the broker');
    deps.metrics.registryTokens.inc({ outcome: e.code });
    Object.assign(record, { outcome: e.code, field: e.field, message: e.detail ?? e.message });
    // A project token that verified has set tokenJti; anything short of that could come from anyone.
    auditRefusal(deps, record, record.tokenJti !== undefined, ctx.client, e.code);
    const line = logFields(record, 'registry_token');
    if (e.code === 'internal') line.err = err;
    deps.log[e.code === 'internal' ? 'error' : 'info'](line, record.message ?? e.message);
    throw e;
  }
}

async function grant(
  deps: BrokerDeps,
  config: BrokerConfig,
  req: TokenRequest,
  record: AuditRecord,
): Promise<RegistryTokenResult> {
  if (req.service !== undefined && req.service !== config.registry.service) {
    throw new BrokerError(
      'malformed_request',
      `service ${JSON.stringify(req.service.slice(0, 80))} is not this broker's registry service (${config.registry.service})`,
    );
  }
  if (!req.password) {
    throw new BrokerError(
      'unauthorized',
      'registry login needs a project token as the password (user: depot)',
    );
  }
  const verified = await verifyProjectToken(config, deps, req.password);
  const minted = verified.token;
  Object.assign(record, {
    provider: typeof verified.claims.provider === 'string' ? verified.claims.provider : '',
    project: minted.project,
    rule: minted.rule,
    sub: minted.subject,
    repository: typeof verified.claims.repository === 'string' ? verified.claims.repository : undefined,
    tokenJti: minted.id,
  });
  const revoked = await deps.state.isRevoked({
    jti: minted.id,
    rule: minted.rule,
    project: minted.project,
    issuedAt: Math.floor((minted.issuedAt?.getTime() ?? 0) / 1000),
  });
  if (revoked) {
    throw new BrokerError(
      'token_revoked',
      'this project token was revoked by the broker operator: exchange a fresh CI OIDC token',
      { field: revoked.kind },
    );
  }
  const claims = currentGrants(config, verified);
  const project = config.projects.find((p) => p.id === claims.project);
  const access: Access[] = [];
  for (const s of req.scopes) {
    const parsed = parseScope(s);
    if (!parsed || parsed.type !== 'repository') continue; // registry:catalog and friends: never granted
    const allowed = project ? allowedActions(project, claims, parsed.name) : new Set<string>();
    const kind = parsed.name.startsWith('builds/')
      ? 'builds'
      : project?.cacheRepository === parsed.name
        ? 'cache'
        : 'other';
    const granted = parsed.actions.filter((a) => allowed.has(a));
    for (const a of parsed.actions) {
      deps.metrics.registryGrants.inc({
        repository: kind,
        action: a === 'pull' || a === 'push' ? a : 'other',
        granted: String(allowed.has(a)),
      });
    }
    const existing = access.find((x) => x.name === parsed.name);
    if (existing) existing.actions = [...new Set([...existing.actions, ...granted])];
    else access.push({ type: 'repository', name: parsed.name, actions: granted });
  }
  const now = Math.floor(Date.now() / 1000);
  const signer = deps.keys.registrySigner();
  // Never past the project token, nor past the leaf that vouches for the signature.
  const exp = Math.min(
    now + REGISTRY_TOKEN_TTL,
    Math.floor(claims.expiresAt.getTime() / 1000),
    signer.notAfter,
  );
  const token = await new SignJWT({ access })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c: signer.x5c })
    .setIssuer(config.publicUrl)
    .setSubject(claims.subject ?? 'project')
    .setAudience(config.registry.service)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setNotBefore(now - 5)
    .setExpirationTime(exp)
    .sign(signer.key);
  return { token, expiresIn: exp - now, issuedAt: new Date(now * 1000).toISOString(), access };
}
