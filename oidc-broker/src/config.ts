// The broker's one YAML file (DESIGN.md "Broker configuration"), read into one typed object at load. Its shape is
// declared once in config-schema.ts (zod); this module reports every problem of a file as `file:line: path: why`,
// checks what spans several values (a rule's provider and issuer, rule ids, shadowed rules, repositories used twice,
// the broker as its own issuer) and has policy.ts compile the rules. A bad file never half-loads.
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import type { z } from 'zod';
import { savedBuildsRepository } from '../../shared/contract/project';
import { AddressList } from './address';
import type { IssuerEntryFile, RuleFile, StoreConfig } from './config-schema';
import {
  BrokerFileSchema,
  CACHE_DEFAULTS,
  storeConfig,
  fieldSchema,
  IssuerEntrySchema,
  IssuerKeySchema,
  notAProvider,
  ProjectSchema,
  RuleSchema,
  SHARED_FIELDS,
} from './config-schema';
import type { CompiledRule } from './policy';
import { compileRule, shadows } from './policy';
import { PROVIDERS } from './providers';
import type { Provider, ProviderName } from './providers/types';
import { PROVIDER_NAMES } from './providers/types';

export { MAX_TOKEN_TTL } from './config-schema';

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

export interface ProjectConfig {
  id: string;
  cacheRepository: string;
  /** Whether pull_request runs from forks of a repository this project covers may claim isolated tokens. */
  forkPolicy: 'isolated' | 'deny';
  rules: CompiledRule[];
  /** Its cache limits, the global `cache:` filled in. */
  cache: CacheLimits;
}

/** Cache limits (`cache:`) that `broker cache prune` enforces. */
export interface CacheLimits {
  /** Bytes. */
  maxSize: number;
  /** Seconds. */
  maxAge: number;
}

export interface RateLimit {
  /** Exchange requests per minute per client address; 0 turns the limit off. */
  perAddress: number;
  /** Refused exchanges per minute per client address before further requests get 429; 0: off. */
  failuresPerAddress: number;
  /** /v2/token logins per minute per client address, granted or refused; 0: off. */
  registryPerAddress: number;
  /** Refused /v2/token logins per minute per client address before further ones get 429; 0: off. */
  registryFailuresPerAddress: number;
  /** Fork-PR claims per minute per client address; 0: off. */
  claimsPerAddress: number;
  /** Fork-PR claims per minute naming one run (repository and run id); 0: off. */
  claimsPerRun: number;
}

/** The GitHub API of the fork-PR claim flow (defaults when the file has no `github:`). */
export interface GitHubConfig {
  apiUrl: string;
  /** The environment variable holding the broker's GitHub token. */
  tokenEnv: string;
}

export const GITHUB_DEFAULTS: GitHubConfig = {
  apiUrl: 'https://api.github.com',
  tokenEnv: 'BROKER_GITHUB_TOKEN',
};

export interface BrokerConfig {
  file: string;
  publicUrl: string;
  audience: string;
  /** Seconds, at most 3600. */
  tokenTtl: number;
  issuers: IssuerEntry[];
  registry: { host: string; service: string };
  github: GitHubConfig;
  /**
   * The github-actions issuer entry that `github.api_url` belongs to: only its rules cover a repository for fork-PR
   * claims. Undefined when there is no github-actions entry.
   */
  forkIssuer: IssuerEntry | undefined;
  projects: ProjectConfig[];
  rateLimit: RateLimit;
  /** Proxies whose X-Forwarded-For is believed (address.ts). */
  trustedProxies: AddressList;
  /** Who besides loopback may read /metrics. */
  metricsAllow: AddressList;
  /** Seconds a registry signer leaf lives. */
  registrySignerTtl: number;
  /** Seconds the current signing key serves before it is rotated. */
  keyRotation: number;
  /** Seconds audit rows are kept (`audit_retention`). */
  auditRetention: number;
  /** Audit rows a minute, in all, for refusals that never got past signature verification. */
  auditUnverifiedPerMinute: number;
  /** The global cache limits (each project's, its own keys filled in from these, are on ProjectConfig). */
  cache: CacheLimits;
  /** Where the state lives (`store:`; absent in the file: SQLite in the data dir). What openStore() takes. */
  store?: StoreConfig;
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

type Path = (string | number)[];

function pathText(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(top level)';
}

/** Problems and warnings of one file, each `file:line: path: why`, listed in line order. */
class Report {
  private readonly problems: { line: number; text: string }[] = [];
  private readonly warnings: { line: number; text: string }[] = [];
  constructor(
    private readonly file: string,
    readonly lineOf: (path: Path) => number,
  ) {}

  fail(path: Path, msg: string): void {
    const line = this.lineOf(path);
    this.problems.push({ line, text: `${this.file}:${line}: ${pathText(path)}: ${msg}` });
  }

  warn(path: Path, msg: string): void {
    const line = this.lineOf(path);
    this.warnings.push({ line, text: `${this.file}:${line}: ${pathText(path)}: ${msg}` });
  }

  /** A schema issue, at the path it names; an unknown key is reported at each key. */
  issue(issue: z.core.$ZodIssue): void {
    const path: Path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
    if (issue.code === 'unrecognized_keys')
      for (const key of issue.keys) this.fail([...path, key], issue.message);
    else if (issue.code === 'invalid_key') this.fail(path, issue.issues[0]?.message ?? issue.message);
    else this.fail(path, issue.message);
  }

  get failed(): boolean {
    return this.problems.length > 0;
  }

  problemLines(): string[] {
    return [...this.problems].sort((a, b) => a.line - b.line).map((p) => p.text);
  }

  warningLines(): string[] {
    return [...this.warnings].sort((a, b) => a.line - b.line).map((p) => p.text);
  }
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
  const { root, lineOf } = readYaml(text, file);
  const report = new Report(file, lineOf);

  // The shape, all of it: every problem the schema sees.
  const parsed = BrokerFileSchema.safeParse(root);
  if (!parsed.success) for (const issue of parsed.error.issues) report.issue(issue);

  // What spans several values, on each part that passed the schema on its own: one bad rule never hides the
  // problems of another.
  const publicUrl = valid(BrokerFileSchema.shape.public_url, root.public_url);
  const audience = valid(BrokerFileSchema.shape.audience, root.audience) ?? publicUrl ?? '';
  const issuers = readIssuers(root, { publicUrl, audience }, report);
  const projects = readProjects(root, issuers, report);
  const github = parsed.success
    ? {
        apiUrl: parsed.data.github?.api_url ?? GITHUB_DEFAULTS.apiUrl,
        tokenEnv: parsed.data.github?.token_env ?? GITHUB_DEFAULTS.tokenEnv,
      }
    : GITHUB_DEFAULTS;
  const forkIssuer = readForkIssuer(github, issuers.entries, projects, report);

  if (!parsed.success || report.failed) throw new ConfigProblems(report.problemLines());
  const top = parsed.data;
  const cache: CacheLimits = {
    maxSize: top.cache.max_size ?? CACHE_DEFAULTS.maxSize,
    maxAge: top.cache.max_age ?? CACHE_DEFAULTS.maxAge,
  };
  for (const p of projects) {
    if (Number.isNaN(p.cache.maxSize)) p.cache.maxSize = cache.maxSize;
    if (Number.isNaN(p.cache.maxAge)) p.cache.maxAge = cache.maxAge;
  }
  return {
    file,
    publicUrl: top.public_url,
    audience: top.audience ?? top.public_url,
    tokenTtl: top.token_ttl,
    issuers: issuers.entries,
    registry: top.registry,
    github,
    forkIssuer,
    projects,
    rateLimit: {
      perAddress: top.rate_limit.per_address,
      failuresPerAddress: top.rate_limit.failures_per_address,
      registryPerAddress: top.rate_limit.registry_per_address,
      registryFailuresPerAddress: top.rate_limit.registry_failures_per_address,
      claimsPerAddress: top.rate_limit.claims_per_address,
      claimsPerRun: top.rate_limit.claims_per_run,
    },
    trustedProxies: new AddressList(top.trusted_proxies),
    metricsAllow: new AddressList(top.metrics_allow),
    registrySignerTtl: top.registry_signer_ttl,
    keyRotation: top.key_rotation,
    auditRetention: top.audit_retention,
    auditUnverifiedPerMinute: top.audit_unverified_per_minute,
    cache,
    store: storeConfig(top.store),
    warnings: report.warningLines(),
  };
}

/** The YAML document as plain data, and the line of every path in it. */
function readYaml(
  text: string,
  file: string,
): { root: Record<string, unknown>; lineOf: (path: Path) => number } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter, prettyErrors: false });
  const errors: string[] = [];
  for (const e of doc.errors) {
    const line = e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line;
    const what = e.code === 'DUPLICATE_KEY' ? 'duplicate key' : e.message.split('\n')[0];
    errors.push(`${file}:${line}: ${what}`);
  }
  if (errors.length) throw new ConfigProblems(errors);

  // Lines by path, so problems with plain values can still say where.
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

  const root: unknown = doc.toJS();
  if (!isObject(root)) throw new ConfigProblems([`${file}:1: the config must be a YAML mapping`]);
  return { root, lineOf };
}

/** The parsed value when `value` passes `schema`, else undefined (the full parse has reported why). */
function valid<S extends z.ZodType>(schema: S, value: unknown): z.output<S> | undefined {
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Issuers {
  entries: IssuerEntry[];
  /** Every key under `issuers`, loaded or refused: a rule pinning a refused entry adds no second problem. */
  declared: Set<string>;
}

// Issuers: a closed registry, looked up by exact `iss`.
function readIssuers(
  root: Record<string, unknown>,
  top: { publicUrl: string | undefined; audience: string },
  report: Report,
): Issuers {
  const issuers: Issuers = { entries: [], declared: new Set() };
  if (!isObject(root.issuers)) return issuers;
  for (const [key, raw] of Object.entries(root.issuers)) {
    issuers.declared.add(key);
    const file = valid(IssuerEntrySchema, raw);
    if (!file || !IssuerKeySchema.safeParse(key).success) continue;
    const entry = issuerEntry(key, file, ['issuers', key], top, report);
    if (!entry) continue;
    const dup = issuers.entries.find((i) => i.issuer === entry.issuer);
    if (dup)
      report.fail(['issuers', key, 'issuer'], `${entry.issuer} is already the issuer of entry ${dup.key}`);
    else issuers.entries.push(entry);
  }
  return issuers;
}

function issuerEntry(
  key: string,
  raw: IssuerEntryFile,
  at: Path,
  top: { publicUrl: string | undefined; audience: string },
  report: Report,
): IssuerEntry | undefined {
  const name = raw.provider ?? key;
  if (!(PROVIDER_NAMES as readonly string[]).includes(name)) {
    report.fail([...at, 'provider'], notAProvider(name, ' (or name the entry after one)'));
    return undefined;
  }
  const provider = PROVIDERS[name as ProviderName];
  const issuer = raw.issuer;
  if (issuer.replace(/\/+$/, '') === top.publicUrl) {
    report.fail(
      [...at, 'issuer'],
      'is the broker itself: project tokens are never accepted where a CI token is expected',
    );
    return undefined;
  }
  const jwksUri = raw.jwks_uri ?? provider.issuerDefaults.jwksUri(issuer);
  const audience = raw.audience ?? top.audience;
  const audienceWarning = provider.audienceProblem?.(issuer, audience);
  if (audienceWarning)
    report.warn([...at, raw.audience === undefined ? 'issuer' : 'audience'], audienceWarning);
  const singleUse = raw.single_use ?? provider.issuerDefaults.singleUse;
  const required = new Set(['iss', 'aud', 'exp', 'iat', ...provider.issuerDefaults.requiredClaims]);
  if (singleUse) required.add('jti');
  for (const c of raw.required_claims ?? []) required.add(c);
  return {
    key,
    provider,
    issuer,
    jwksUri,
    algorithms: raw.algorithms ?? provider.issuerDefaults.algorithms,
    audience,
    singleUse,
    maxTokenAge: raw.max_token_age ?? provider.issuerDefaults.maxTokenAge,
    requiredClaims: [...required],
  };
}

/** The host of the OIDC issuer whose runs the GitHub API at `apiUrl` describes: github.com's API is
 * api.github.com and its issuer token.actions.githubusercontent.com; GHE.com's api.<sub>.ghe.com goes with
 * token.actions.<sub>.ghe.com; a GitHub Enterprise Server serves both on its own host. */
export function issuerHostOf(apiUrl: string): string {
  const host = new URL(apiUrl).hostname.toLowerCase();
  if (host === 'api.github.com') return 'token.actions.githubusercontent.com';
  if (host.startsWith('api.') && host.endsWith('.ghe.com')) return `token.actions.${host.slice(4)}`;
  return host;
}

// The fork-PR claim flow asks `github.api_url` about runs: only the rules of the github-actions issuer of that same
// GitHub may cover a repository. With one github-actions entry, that is the one (tests and the demo use a local
// issuer); with several, the entry whose issuer host corresponds to the API's, and a file where none or several do
// is refused when a project's fork_policy is isolated.
function readForkIssuer(
  github: GitHubConfig,
  entries: IssuerEntry[],
  projects: ProjectConfig[],
  report: Report,
): IssuerEntry | undefined {
  const own = entries.filter((e) => e.provider.name === 'github-actions');
  if (own.length <= 1) return own[0];
  const host = issuerHostOf(github.apiUrl);
  const matching = own.filter((e) => {
    try {
      return new URL(e.issuer).hostname.toLowerCase() === host;
    } catch {
      return false;
    }
  });
  if (matching.length === 1) return matching[0];
  if (projects.some((p) => p.forkPolicy === 'isolated')) {
    report.fail(
      ['github', 'api_url'],
      `${github.apiUrl} belongs to ${matching.length ? 'several' : 'none'} of the github-actions issuer entries (${own.map((e) => e.key).join(', ')}), whose issuer host should be ${host}: set github.api_url to the GitHub whose fork pull requests isolated projects build`,
    );
  }
  return undefined;
}

// Projects and their rules.
function readProjects(root: Record<string, unknown>, issuers: Issuers, report: Report): ProjectConfig[] {
  const projects: ProjectConfig[] = [];
  if (root.projects === undefined || root.projects === null) {
    report.warn(['projects'], 'no projects: every exchange will be refused');
    return projects;
  }
  if (!Array.isArray(root.projects)) return projects;
  const shape = ProjectSchema.shape;
  const ruleIds = new Map<string, string>();
  const repositories = new Map<string, string>();
  root.projects.forEach((raw: unknown, pi: number) => {
    const at: Path = ['projects', pi];
    if (!isObject(raw)) return;
    const id = valid(shape.id, raw.id);
    if (id === undefined) return;
    if (projects.some((p) => p.id === id))
      return report.fail([...at, 'id'], `project ${id} is declared twice`);
    const cacheRepository =
      raw.cache_repository === undefined
        ? `cache/${id}`
        : valid(shape.cache_repository, raw.cache_repository);
    if (cacheRepository === 'builds' || cacheRepository?.startsWith('builds/')) {
      report.fail(
        [...at, 'cache_repository'],
        `"${cacheRepository}" is under builds/, which holds saved builds: use cache/${id}`,
      );
    } else if (cacheRepository !== undefined && repositories.has(cacheRepository)) {
      report.fail(
        [...at, 'cache_repository'],
        `"${cacheRepository}" is already the cache of project ${repositories.get(cacheRepository) ?? ''}`,
      );
    } else if (cacheRepository !== undefined) {
      repositories.set(cacheRepository, id);
    }

    const rules: CompiledRule[] = [];
    const rawRules: unknown[] = Array.isArray(raw.rules) ? raw.rules : [];
    rawRules.forEach((rr, ri) => {
      const parsed = valid(RuleSchema, rr);
      if (!parsed) return;
      const rule = readRule(parsed, rr, [...at, 'rules', ri], id, ri, issuers, report);
      if (!rule) return;
      const prior = ruleIds.get(rule.id);
      if (prior) {
        return report.fail(
          [...at, 'rules', ri, 'id'],
          `rule id ${rule.id} is already used in project ${prior}`,
        );
      }
      ruleIds.set(rule.id, id);
      const shadow = rules.find((earlier) => shadows(earlier, rule));
      if (shadow) {
        report.warn(
          [...at, 'rules', ri],
          `rule ${rule.id} is shadowed by the earlier rule ${shadow.id}: it never matches`,
        );
      }
      rules.push(rule);
    });
    const forkPolicy = valid(shape.fork_policy, raw.fork_policy) ?? 'deny';
    const cache = valid(shape.cache, raw.cache);
    projects.push({
      id,
      cacheRepository: cacheRepository ?? `cache/${id}`,
      forkPolicy,
      rules,
      // The global keys fill in the rest below, once the whole file has parsed.
      cache: { maxSize: cache?.max_size ?? NaN, maxAge: cache?.max_age ?? NaN },
    });
  });
  for (const p of projects) {
    const saved = savedBuildsRepository(p.id);
    if (repositories.has(saved))
      report.fail(['projects'], `${saved} is project ${p.id}'s saved-builds repository`);
  }
  return projects;
}

function readRule(
  raw: RuleFile,
  written: unknown,
  at: Path,
  projectId: string,
  index: number,
  issuers: Issuers,
  report: Report,
): CompiledRule | undefined {
  const id = raw.id ?? `${projectId}#${index}`;
  if (raw.id === undefined) {
    report.warn(
      at,
      `rule ${id} has no id: give it one (id: <name>), since default ids shift when rules move and revocations and registry tokens name rules by id`,
    );
  }
  // The provider: named, or taken from a pinned issuer entry.
  let issuerKey: string | undefined;
  let providerName: ProviderName | undefined;
  if (raw.issuer !== undefined) {
    const entry = issuers.entries.find((i) => i.key === raw.issuer);
    if (!entry) {
      // A pinned entry that was refused has its own problem already.
      if (!issuers.declared.has(raw.issuer)) {
        const have = issuers.entries.map((i) => i.key).join(', ');
        report.fail([...at, 'issuer'], `"${raw.issuer}" is not an entry under issuers (have: ${have})`);
      }
      return undefined;
    }
    issuerKey = entry.key;
    providerName = entry.provider.name;
  }
  if (raw.provider !== undefined) {
    if (providerName !== undefined && providerName !== raw.provider) {
      report.fail(
        [...at, 'provider'],
        `is ${raw.provider} but issuer ${issuerKey ?? ''} is a ${providerName} issuer`,
      );
      return undefined;
    }
    providerName = raw.provider;
  }
  if (providerName === undefined) {
    report.fail(at, 'names no provider: add provider: github-actions (or issuer: <an issuers key>)');
    return undefined;
  }
  const provider = PROVIDERS[providerName];
  // The schema knows every provider's fields; a rule names only its own provider's.
  const own = provider.fields.map((f) => f.name);
  const foreign = Object.keys(raw.fields).filter((k) => !own.includes(k));
  for (const k of foreign) {
    report.fail(
      [...at, k],
      `unknown key for provider ${provider.name} (allowed here: id, provider, issuer, grants, isolated, ${own.join(', ')})`,
    );
  }
  if (foreign.length) return undefined;
  // A field two providers name alike (project_id) passed the schema as either's: check it as this provider's.
  let wrong = false;
  for (const spec of provider.fields) {
    if (!SHARED_FIELDS.has(spec.name) || raw.fields[spec.name] === undefined) continue;
    const r = fieldSchema(spec.match).safeParse(isObject(written) ? written[spec.name] : undefined);
    if (r.success) raw.fields[spec.name] = r.data;
    else {
      wrong = true;
      report.fail([...at, spec.name], r.error.issues[0]?.message ?? 'is not a valid value');
    }
  }
  if (wrong) return undefined;
  const modelled = Object.keys(raw.claims).filter((k) => own.includes(k));
  for (const k of modelled) {
    report.fail(
      [...at, 'claims', k],
      `is a field provider ${provider.name} models: write it as the rule key ${k} (its own matching), not under claims`,
    );
  }
  if (modelled.length) return undefined;
  // Several issuers of one provider (github.com and a GitHub Enterprise Server, say) have ids of their own: a rule
  // that pins none would trust them all.
  const entriesOfProvider = issuers.entries.filter((i) => i.provider.name === provider.name);
  if (issuerKey === undefined && entriesOfProvider.length > 1) {
    report.fail(
      at,
      `rule ${id} pins no issuer, but ${provider.name} has ${entriesOfProvider.length} issuer entries (${entriesOfProvider.map((i) => i.key).join(', ')}): add issuer: <one of them>`,
    );
    return undefined;
  }
  const problem = provider.ruleProblem(raw.fields);
  if (problem) {
    report.fail(at, `rule ${id} ${problem}`);
    return undefined;
  }
  for (const warning of provider.ruleWarnings(raw.fields, raw.grants))
    report.warn(at, `rule ${id} ${warning}`);
  // Say so only when no entry was refused: the refused one may be this provider's. The rule still takes part in
  // the checks across rules (ids, shadowing); the file is refused either way.
  const noEntry = !issuers.entries.some((i) => i.provider.name === provider.name);
  if (noEntry && issuers.declared.size === issuers.entries.length) {
    report.fail(
      [...at, 'provider'],
      `no entry under issuers has provider ${provider.name}: add one, or this rule can never match`,
    );
  }
  return compileRule({
    id,
    projectId,
    provider,
    issuerKey,
    fields: raw.fields,
    claims: raw.claims,
    grants: raw.grants,
    isolated: raw.isolated ?? false,
    line: report.lineOf(at),
  });
}
