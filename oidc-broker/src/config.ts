// The broker's one YAML file (DESIGN.md "Broker configuration"), read into one typed object and compiled once:
// issuer entries, projects and their trust rules. Every problem names the file, the line and the field; a bad file
// never half-loads. Unknown and duplicate keys are errors, so a typo never silently widens or narrows trust.
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import { PROJECT_ID, savedBuildsRepository } from '../../shared/contract/project';
import { parseDuration } from './duration';
import { compileGlob, globProblem } from './glob';
import { implementedProviders, PROVIDERS } from './providers';
import type { Claims, FieldSpec, Grant, Provider, ProviderName } from './providers/types';
import { ALL_GRANTS, PROVIDER_NAMES } from './providers/types';

export interface IssuerEntry {
  key: string;
  provider: Provider;
  issuer: string;
  jwksUri: string;
  algorithms: string[];
  audience: string;
  singleUse: boolean;
  /** Seconds. */
  maxTokenAge: number;
  requiredClaims: string[];
}

export type FieldResult = { ok: true } | { ok: false; field: string; expected: string; actual: string };

export interface FieldMatcher {
  field: string;
  /** The pattern or list, as shown in refusal messages. */
  expected: string;
  /** True when the rule did not name the field (a default, e.g. the default events). */
  isDefault: boolean;
  test(value: string): boolean;
}

export interface CompiledRule {
  id: string;
  projectId: string;
  provider: ProviderName;
  /** Set when the rule pins one issuer entry (`issuer: <key>`). */
  issuerKey: string | undefined;
  fields: Record<string, unknown>;
  matchers: FieldMatcher[];
  grants: Grant[] | undefined;
  isolated: boolean;
  line: number;
}

export interface ProjectConfig {
  id: string;
  cacheRepository: string;
  forkPolicy: 'isolated' | 'deny';
  rules: CompiledRule[];
}

export interface RateLimit {
  /** Exchange requests per minute per client address; 0 turns the limit off. */
  perAddress: number;
  /** Refused exchanges per minute per client address before further requests get 429; 0: off. */
  failuresPerAddress: number;
}

export interface BrokerConfig {
  file: string;
  publicUrl: string;
  audience: string;
  /** Seconds, at most 3600. */
  tokenTtl: number;
  issuers: IssuerEntry[];
  registry: { host: string; service: string };
  github: { apiUrl: string; tokenEnv: string } | undefined;
  projects: ProjectConfig[];
  rateLimit: RateLimit;
  warnings: string[];
}

export class ConfigProblems extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems[0] ?? 'invalid config');
    this.name = 'ConfigProblems';
    this.problems = problems;
  }
}

export const MAX_TOKEN_TTL = 3600;
const REPO_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY_NAME = new RegExp(`^${REPO_COMPONENT}(?:/${REPO_COMPONENT})*$`);
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9._#-]*$/;
const ISSUER_KEY = /^[a-z0-9][a-z0-9_-]*$/;
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

type Path = (string | number)[];

function pathText(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(top level)';
}

/** Loads and compiles a config file; throws ConfigProblems listing every problem. */
export function loadConfig(file: string): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err: unknown) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    throw new ConfigProblems([
      `${file}: cannot read the config file (${code ?? 'unreadable'}): pass an existing file with --config or BROKER_CONFIG.`,
    ]);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): BrokerConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter, prettyErrors: false });
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const e of doc.errors) {
    const line = e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line;
    const what = e.code === 'DUPLICATE_KEY' ? 'duplicate key' : e.message.split('\n')[0];
    errors.push(`${file}:${line}: ${what}`);
  }
  if (errors.length) throw new ConfigProblems(errors);

  // Lines by path, so checks on plain values can still say where.
  const lines = new Map<string, number>();
  const walk = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key)) continue;
        const p = [...path, String(pair.key.value)];
        const at = (pair.key as Node).range?.[0];
        if (at !== undefined) lines.set(pathText(p), lineCounter.linePos(at).line);
        walk(pair.value, p);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const p = [...path, i];
        const at = (item as Node | null)?.range?.[0];
        if (at !== undefined) lines.set(pathText(p), lineCounter.linePos(at).line);
        walk(item, p);
      });
    }
  };
  walk(doc.contents, []);
  const lineOf = (path: Path): number => {
    for (let n = path.length; n > 0; n--) {
      const l = lines.get(pathText(path.slice(0, n)));
      if (l !== undefined) return l;
    }
    return 1;
  };
  const fail = (path: Path, msg: string): void => {
    errors.push(`${file}:${lineOf(path)}: ${pathText(path)}: ${msg}`);
  };
  const warn = (path: Path, msg: string): void => {
    warnings.push(`${file}:${lineOf(path)}: ${pathText(path)}: ${msg}`);
  };

  const root: unknown = doc.toJS();
  if (!isObject(root)) throw new ConfigProblems([`${file}:1: the config must be a YAML mapping`]);
  checkKeys(
    root,
    [],
    ['public_url', 'audience', 'token_ttl', 'issuers', 'registry', 'github', 'projects', 'rate_limit'],
    fail,
  );

  const publicUrl = readUrl(root.public_url, ['public_url'], fail, { required: true }) ?? 'http://invalid';
  const audience =
    root.audience === undefined ? publicUrl : (readString(root.audience, ['audience'], fail) ?? publicUrl);
  let tokenTtl = 3600;
  if (root.token_ttl !== undefined) {
    const ttl = parseDuration(root.token_ttl);
    if (ttl === undefined)
      fail(['token_ttl'], `"${String(root.token_ttl)}" is not a duration (e.g. 15m, 1h)`);
    else if (ttl > MAX_TOKEN_TTL)
      fail(['token_ttl'], `${String(root.token_ttl)} is longer than the cap of 1h`);
    else if (ttl < 60) fail(['token_ttl'], `${String(root.token_ttl)} is shorter than 60s`);
    else tokenTtl = ttl;
  }

  // Issuers: a closed registry, looked up by exact `iss`.
  const issuers: IssuerEntry[] = [];
  if (!isObject(root.issuers) || Object.keys(root.issuers).length === 0) {
    fail(['issuers'], 'is required: a mapping of issuer entries (e.g. github-actions: {issuer, jwks_uri})');
  } else {
    for (const [key, raw] of Object.entries(root.issuers)) {
      const entry = readIssuer(key, raw, ['issuers', key], { publicUrl, audience }, fail);
      if (!entry) continue;
      const dup = issuers.find((i) => i.issuer === entry.issuer);
      if (dup) fail(['issuers', key, 'issuer'], `${entry.issuer} is already the issuer of entry ${dup.key}`);
      else issuers.push(entry);
    }
  }

  let registry = { host: 'localhost:5001', service: 'depot-cache' };
  if (root.registry !== undefined) {
    if (!isObject(root.registry)) fail(['registry'], 'must be a mapping {host, service}');
    else {
      checkKeys(root.registry, ['registry'], ['host', 'service'], fail);
      const host =
        root.registry.host === undefined
          ? registry.host
          : readString(root.registry.host, ['registry', 'host'], fail);
      if (host !== undefined && !/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host)) {
        fail(['registry', 'host'], `"${host}" is not a registry host (host or host:port)`);
      }
      const service =
        root.registry.service === undefined
          ? registry.service
          : readString(root.registry.service, ['registry', 'service'], fail);
      registry = { host: host ?? registry.host, service: service ?? registry.service };
    }
  }

  let github: BrokerConfig['github'];
  if (root.github !== undefined) {
    if (!isObject(root.github)) fail(['github'], 'must be a mapping {api_url, token_env}');
    else {
      checkKeys(root.github, ['github'], ['api_url', 'token_env'], fail);
      const apiUrl =
        root.github.api_url === undefined
          ? 'https://api.github.com'
          : readUrl(root.github.api_url, ['github', 'api_url'], fail, { required: true });
      const tokenEnv =
        root.github.token_env === undefined
          ? 'BROKER_GITHUB_TOKEN'
          : readString(root.github.token_env, ['github', 'token_env'], fail);
      if (apiUrl && tokenEnv) github = { apiUrl, tokenEnv };
    }
  }

  let rateLimit: RateLimit = { perAddress: 1200, failuresPerAddress: 120 };
  if (root.rate_limit !== undefined) {
    if (!isObject(root.rate_limit))
      fail(['rate_limit'], 'must be a mapping {per_address, failures_per_address}');
    else {
      checkKeys(root.rate_limit, ['rate_limit'], ['per_address', 'failures_per_address'], fail);
      const n = (v: unknown, key: string, dflt: number): number => {
        if (v === undefined) return dflt;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
          fail(['rate_limit', key], 'must be a whole number of requests per minute (0 turns the limit off)');
          return dflt;
        }
        return v;
      };
      rateLimit = {
        perAddress: n(root.rate_limit.per_address, 'per_address', rateLimit.perAddress),
        failuresPerAddress: n(
          root.rate_limit.failures_per_address,
          'failures_per_address',
          rateLimit.failuresPerAddress,
        ),
      };
    }
  }

  // Projects and their rules.
  const projects: ProjectConfig[] = [];
  const ruleIds = new Map<string, string>();
  const repositories = new Map<string, string>();
  if (root.projects === undefined || root.projects === null) {
    warn(['projects'], 'no projects: every exchange will be refused');
  } else if (!Array.isArray(root.projects)) {
    fail(['projects'], 'must be a list of projects');
  } else {
    root.projects.forEach((raw: unknown, pi: number) => {
      const at: Path = ['projects', pi];
      if (!isObject(raw)) return fail(at, 'must be a mapping {id, cache_repository, fork_policy, rules}');
      checkKeys(raw, at, ['id', 'cache_repository', 'fork_policy', 'rules'], fail);
      const id = readString(raw.id, [...at, 'id'], fail);
      if (id === undefined) return;
      if (!PROJECT_ID.test(id))
        return fail([...at, 'id'], `"${id}" is not a project id: use [a-z0-9]+([._-][a-z0-9]+)*`);
      if (projects.some((p) => p.id === id)) return fail([...at, 'id'], `project ${id} is declared twice`);
      const cacheRepository =
        raw.cache_repository === undefined
          ? `cache/${id}`
          : readString(raw.cache_repository, [...at, 'cache_repository'], fail);
      if (cacheRepository !== undefined) {
        if (!REPOSITORY_NAME.test(cacheRepository)) {
          fail(
            [...at, 'cache_repository'],
            `"${cacheRepository}" is not a registry repository name (lower case, e.g. cache/${id})`,
          );
        } else if (cacheRepository === 'builds' || cacheRepository.startsWith('builds/')) {
          fail(
            [...at, 'cache_repository'],
            `"${cacheRepository}" is under builds/, which holds saved builds: use cache/${id}`,
          );
        } else if (repositories.has(cacheRepository)) {
          fail(
            [...at, 'cache_repository'],
            `"${cacheRepository}" is already the cache of project ${repositories.get(cacheRepository) ?? ''}`,
          );
        } else {
          repositories.set(cacheRepository, id);
        }
      }
      let forkPolicy: 'isolated' | 'deny' = 'deny';
      if (raw.fork_policy !== undefined) {
        if (raw.fork_policy === 'isolated' || raw.fork_policy === 'deny') forkPolicy = raw.fork_policy;
        else
          fail(
            [...at, 'fork_policy'],
            `"${String(raw.fork_policy)}" is not a fork policy: use isolated or deny`,
          );
      }
      const rules: CompiledRule[] = [];
      if (!Array.isArray(raw.rules) || raw.rules.length === 0) {
        fail(
          [...at, 'rules'],
          'is required: a list of trust rules (e.g. {provider: github-actions, repository: acme/web, repository_id: "123"})',
        );
      } else {
        raw.rules.forEach((rr: unknown, ri: number) => {
          const rule = readRule(rr, [...at, 'rules', ri], id, ri, issuers, lineOf, fail, warn);
          if (!rule) return;
          const prior = ruleIds.get(rule.id);
          if (prior)
            return fail([...at, 'rules', ri, 'id'], `rule id ${rule.id} is already used in project ${prior}`);
          ruleIds.set(rule.id, id);
          const shadow = rules.find((earlier) => shadows(earlier, rule));
          if (shadow)
            warn(
              [...at, 'rules', ri],
              `rule ${rule.id} is shadowed by the earlier rule ${shadow.id}: it never matches`,
            );
          rules.push(rule);
        });
      }
      projects.push({ id, cacheRepository: cacheRepository ?? `cache/${id}`, forkPolicy, rules });
    });
  }
  for (const p of projects) {
    const saved = savedBuildsRepository(p.id);
    if (repositories.has(saved)) fail(['projects'], `${saved} is project ${p.id}'s saved-builds repository`);
  }
  if (projects.some((p) => p.forkPolicy === 'isolated') && github === undefined) {
    fail(
      ['github'],
      'is required when a project has fork_policy: isolated (the fork-PR flow asks GitHub): add github: {token_env: BROKER_GITHUB_TOKEN}',
    );
  }

  if (errors.length) throw new ConfigProblems(errors);
  return { file, publicUrl, audience, tokenTtl, issuers, registry, github, projects, rateLimit, warnings };
}

type Fail = (path: Path, msg: string) => void;

/** The provider's implementation, or a refusal naming what is implemented. */
function implementedProvider(name: string, at: Path, fail: Fail) {
  const provider = PROVIDERS[name as ProviderName];
  if (!provider) {
    fail(
      [...at, 'provider'],
      `provider ${name} is not implemented by this broker yet (available: ${implementedProviders().join(', ')})`,
    );
  }
  return provider;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, at: Path, allowed: readonly string[], fail: Fail): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) fail([...at, k], `unknown key (allowed here: ${allowed.join(', ')})`);
  }
}

function readString(v: unknown, at: Path, fail: Fail): string | undefined {
  if (typeof v !== 'string' || v === '') {
    fail(at, v === undefined ? 'is required' : 'must be a non-empty string');
    return undefined;
  }
  return v;
}

function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

function readUrl(v: unknown, at: Path, fail: Fail, opts: { required: boolean }): string | undefined {
  if (v === undefined && !opts.required) return undefined;
  const s = readString(v, at, fail);
  if (s === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    fail(at, `"${s}" is not a URL`);
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    fail(at, `"${s}" must be an http(s) URL`);
    return undefined;
  }
  if (url.search || url.hash || url.username || url.password) {
    fail(at, `"${s}" must not carry a query, fragment or credentials`);
    return undefined;
  }
  return s.replace(/\/+$/, '');
}

function readIssuer(
  key: string,
  raw: unknown,
  at: Path,
  top: { publicUrl: string; audience: string },
  fail: Fail,
): IssuerEntry | undefined {
  if (!ISSUER_KEY.test(key))
    fail(at, `"${key}" is not an issuer key: use lower case letters, digits, - and _`);
  if (!isObject(raw)) {
    fail(at, 'must be a mapping {issuer, jwks_uri, ...}');
    return undefined;
  }
  checkKeys(
    raw,
    at,
    [
      'provider',
      'issuer',
      'jwks_uri',
      'algorithms',
      'audience',
      'single_use',
      'max_token_age',
      'required_claims',
    ],
    fail,
  );
  const providerName = raw.provider === undefined ? key : raw.provider;
  if (typeof providerName !== 'string' || !PROVIDER_NAMES.includes(providerName as ProviderName)) {
    fail(
      [...at, 'provider'],
      `"${String(providerName)}" is not a provider: use one of ${PROVIDER_NAMES.join(', ')} (or name the entry after one)`,
    );
    return undefined;
  }
  const provider = implementedProvider(providerName, at, fail);
  if (!provider) return undefined;
  const issuer = typeof raw.issuer === 'string' ? raw.issuer : undefined;
  if (issuer === undefined || issuer === '') {
    fail(
      [...at, 'issuer'],
      'is required: the exact `iss` of the tokens (e.g. https://token.actions.githubusercontent.com)',
    );
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    fail([...at, 'issuer'], `"${issuer}" is not a URL`);
    return undefined;
  }
  if (url.protocol === 'http:' && !isLoopback(url)) {
    fail(
      [...at, 'issuer'],
      `"${issuer}" is http:// on a non-loopback host: use https (http is accepted only on 127.0.0.1, localhost or [::1])`,
    );
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    fail([...at, 'issuer'], `"${issuer}" must be an https URL`);
    return undefined;
  }
  if (issuer.replace(/\/+$/, '') === top.publicUrl) {
    fail(
      [...at, 'issuer'],
      'is the broker itself: project tokens are never accepted where a CI token is expected',
    );
    return undefined;
  }
  const jwksDefault =
    provider.name === 'github-actions' ? `${issuer.replace(/\/+$/, '')}/.well-known/jwks` : undefined;
  const jwksUri =
    raw.jwks_uri === undefined
      ? jwksDefault
      : readUrl(raw.jwks_uri, [...at, 'jwks_uri'], fail, { required: true });
  if (jwksUri === undefined) {
    if (raw.jwks_uri === undefined) fail([...at, 'jwks_uri'], 'is required for this provider');
    return undefined;
  }
  const ju = new URL(jwksUri);
  if (ju.protocol === 'http:' && !isLoopback(ju)) {
    fail([...at, 'jwks_uri'], `"${jwksUri}" is http:// on a non-loopback host: use https`);
    return undefined;
  }
  let algorithms = provider.issuerDefaults.algorithms;
  if (raw.algorithms !== undefined) {
    if (!Array.isArray(raw.algorithms) || raw.algorithms.length === 0) {
      fail([...at, 'algorithms'], `must be a non-empty list (e.g. [RS256])`);
    } else {
      const list: string[] = [];
      raw.algorithms.forEach((a: unknown, i: number) => {
        if (typeof a !== 'string' || !ALGORITHMS.includes(a)) {
          fail(
            [...at, 'algorithms', i],
            `"${String(a)}" is not an asymmetric JWS algorithm (use one of ${ALGORITHMS.join(', ')})`,
          );
        } else list.push(a);
      });
      algorithms = list;
    }
  }
  const audience =
    raw.audience === undefined ? top.audience : readString(raw.audience, [...at, 'audience'], fail);
  let singleUse = provider.issuerDefaults.singleUse;
  if (raw.single_use !== undefined) {
    if (typeof raw.single_use !== 'boolean') fail([...at, 'single_use'], 'must be true or false');
    else singleUse = raw.single_use;
  }
  let maxTokenAge = provider.issuerDefaults.maxTokenAge;
  if (raw.max_token_age !== undefined) {
    const d = parseDuration(raw.max_token_age);
    if (d === undefined)
      fail([...at, 'max_token_age'], `"${String(raw.max_token_age)}" is not a duration (e.g. 10m)`);
    else maxTokenAge = d;
  }
  const required = new Set(['iss', 'aud', 'exp', 'iat', ...provider.issuerDefaults.requiredClaims]);
  if (singleUse) required.add('jti');
  if (raw.required_claims !== undefined) {
    if (!Array.isArray(raw.required_claims))
      fail([...at, 'required_claims'], 'must be a list of claim names');
    else
      raw.required_claims.forEach((c: unknown, i: number) => {
        if (typeof c !== 'string' || !/^[A-Za-z0-9_]+$/.test(c))
          fail([...at, 'required_claims', i], `"${String(c)}" is not a claim name`);
        else required.add(c);
      });
  }
  if (audience === undefined) return undefined;
  return {
    key,
    provider,
    issuer,
    jwksUri,
    algorithms,
    audience,
    singleUse,
    maxTokenAge,
    requiredClaims: [...required],
  };
}

function readRule(
  raw: unknown,
  at: Path,
  projectId: string,
  index: number,
  issuers: IssuerEntry[],
  _lineOf: (p: Path) => number,
  fail: Fail,
  warn: Fail,
): CompiledRule | undefined {
  if (!isObject(raw)) {
    fail(at, 'must be a mapping {provider, repository, repository_id, ...}');
    return undefined;
  }
  const id = raw.id === undefined ? `${projectId}#${index}` : raw.id;
  if (typeof id !== 'string' || !RULE_ID.test(id)) {
    fail([...at, 'id'], `"${String(id)}" is not a rule id: use letters, digits, ., _, - and #`);
    return undefined;
  }
  // The provider: named, or taken from a pinned issuer entry.
  let issuerKey: string | undefined;
  let providerName: string | undefined;
  if (raw.issuer !== undefined) {
    const entry = issuers.find((i) => i.key === raw.issuer);
    if (!entry) {
      fail(
        [...at, 'issuer'],
        `"${String(raw.issuer)}" is not an entry under issuers (have: ${issuers.map((i) => i.key).join(', ')})`,
      );
      return undefined;
    }
    issuerKey = entry.key;
    providerName = entry.provider.name;
  }
  if (raw.provider !== undefined) {
    if (typeof raw.provider !== 'string' || !PROVIDER_NAMES.includes(raw.provider as ProviderName)) {
      fail(
        [...at, 'provider'],
        `"${String(raw.provider)}" is not a provider: use one of ${PROVIDER_NAMES.join(', ')}`,
      );
      return undefined;
    }
    if (providerName !== undefined && providerName !== raw.provider) {
      fail(
        [...at, 'provider'],
        `is ${raw.provider} but issuer ${issuerKey ?? ''} is a ${providerName} issuer`,
      );
      return undefined;
    }
    providerName = raw.provider;
  }
  if (providerName === undefined) {
    fail(at, 'names no provider: add provider: github-actions (or issuer: <an issuers key>)');
    return undefined;
  }
  const provider = implementedProvider(providerName, at, fail);
  if (!provider) return undefined;
  if (!issuers.some((i) => i.provider.name === provider.name)) {
    fail(
      [...at, 'provider'],
      `no entry under issuers has provider ${provider.name}: add one, or this rule can never match`,
    );
    return undefined;
  }
  const fieldNames = provider.fields.map((f) => f.name);
  checkKeys(raw, at, ['id', 'provider', 'issuer', 'grants', 'isolated', ...fieldNames], fail);

  const fields: Record<string, unknown> = {};
  const matchers: FieldMatcher[] = [];
  let ok = true;
  for (const spec of provider.fields) {
    const v = raw[spec.name];
    if (v === undefined) {
      const dflt = provider.defaultLists[spec.name];
      if (dflt) matchers.push(listMatcher(spec.name, dflt, true));
      continue;
    }
    const m = readField(spec, v, [...at, spec.name], fail);
    if (!m) ok = false;
    else {
      fields[spec.name] = v;
      matchers.push(m);
    }
  }
  let grants: Grant[] | undefined;
  if (raw.grants !== undefined) {
    if (!Array.isArray(raw.grants) || raw.grants.length === 0) {
      fail([...at, 'grants'], `must be a non-empty list of ${ALL_GRANTS.join(', ')}`);
      ok = false;
    } else {
      grants = [];
      raw.grants.forEach((g: unknown, i: number) => {
        if (typeof g !== 'string' || !ALL_GRANTS.includes(g as Grant)) {
          fail([...at, 'grants', i], `"${String(g)}" is not a grant: use ${ALL_GRANTS.join(', ')}`);
          ok = false;
        } else if (grants?.includes(g as Grant)) {
          fail([...at, 'grants', i], `"${g}" is listed twice`);
          ok = false;
        } else grants?.push(g as Grant);
      });
    }
  }
  let isolated = false;
  if (raw.isolated !== undefined) {
    if (typeof raw.isolated !== 'boolean') {
      fail([...at, 'isolated'], 'must be true or false');
      ok = false;
    } else isolated = raw.isolated;
  }
  if (!ok) return undefined;
  const problem = provider.ruleProblem(fields);
  if (problem) {
    fail(at, `rule ${id} ${problem}`);
    return undefined;
  }
  const warning = provider.ruleWarning(fields);
  if (warning) warn(at, `rule ${id} ${warning}`);
  return {
    id,
    projectId,
    provider: provider.name,
    issuerKey,
    fields,
    matchers,
    grants,
    isolated,
    line: _lineOf(at),
  };
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function listMatcher(field: string, list: readonly string[], isDefault: boolean): FieldMatcher {
  const set = new Set(list);
  return { field, expected: `one of [${list.join(', ')}]`, isDefault, test: (v) => set.has(v) };
}

function readField(spec: FieldSpec, v: unknown, at: Path, fail: Fail): FieldMatcher | undefined {
  const m = spec.match;
  switch (m.kind) {
    case 'exact': {
      if (typeof v !== 'string' || v === '' || v !== v.trim()) {
        fail(at, 'must be a non-empty string without leading or trailing spaces');
        return undefined;
      }
      return { field: spec.name, expected: `"${v}"`, isDefault: false, test: (x) => x === v };
    }
    case 'exact-ascii-ci': {
      if (typeof v !== 'string' || !m.pattern.test(v)) {
        fail(at, `"${String(v)}" is not ${m.hint} (exact, no globs)`);
        return undefined;
      }
      const want = asciiLower(v);
      return { field: spec.name, expected: `"${v}"`, isDefault: false, test: (x) => asciiLower(x) === want };
    }
    case 'id': {
      const s = typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? String(v) : v;
      if (typeof s !== 'string' || !/^[1-9][0-9]*$/.test(s)) {
        fail(at, `"${String(v)}" is not a numeric id (quote it: "123456")`);
        return undefined;
      }
      return { field: spec.name, expected: `"${s}"`, isDefault: false, test: (x) => x === s };
    }
    case 'glob': {
      if (typeof v !== 'string') {
        fail(at, 'must be a string pattern');
        return undefined;
      }
      const problem = globProblem(v);
      if (problem) {
        fail(at, `pattern ${problem}`);
        return undefined;
      }
      const g = compileGlob(v);
      return { field: spec.name, expected: `"${v}"`, isDefault: false, test: (x) => g.test(x) };
    }
    case 'list': {
      if (!Array.isArray(v) || v.length === 0) {
        fail(at, 'must be a non-empty list');
        return undefined;
      }
      let good = true;
      v.forEach((e: unknown, i: number) => {
        if (typeof e !== 'string' || !m.pattern.test(e)) {
          fail([...at, i], `"${String(e)}" is not a valid value`);
          good = false;
        }
      });
      return good ? listMatcher(spec.name, v as string[], false) : undefined;
    }
    default: {
      const never: never = m;
      throw new Error(`unknown field kind ${JSON.stringify(never)}`);
    }
  }
}

/** True when every token `later` could match, `earlier` (tried first) matches too. Conservative: equal values only. */
function shadows(earlier: CompiledRule, later: CompiledRule): boolean {
  if (earlier.provider !== later.provider) return false;
  if (earlier.issuerKey !== undefined && earlier.issuerKey !== later.issuerKey) return false;
  for (const m of earlier.matchers) {
    const lm = later.matchers.find((x) => x.field === m.field);
    if (!lm) return false;
    if (m.field === 'event_name') {
      const events = lm.expected.replace(/^one of \[|\]$/g, '').split(', ');
      if (!events.every((e) => m.test(e))) return false;
    } else if (m.expected.toLowerCase() !== lm.expected.toLowerCase()) return false;
  }
  return true;
}

/** Applies one rule to verified claims: the first field that fails, or ok. */
export function matchRule(rule: CompiledRule, claims: Claims): FieldResult {
  for (const m of rule.matchers) {
    const v = claims[m.field];
    if (typeof v !== 'string') {
      return {
        ok: false,
        field: m.field,
        expected: m.expected,
        actual: v === undefined ? '(absent)' : typeof v,
      };
    }
    if (!m.test(v)) return { ok: false, field: m.field, expected: m.expected, actual: JSON.stringify(v) };
  }
  return { ok: true };
}
