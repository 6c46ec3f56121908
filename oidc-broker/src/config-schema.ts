// The broker config file's shape (DESIGN.md "Broker configuration"), declared once with zod: the types of the parsed
// file, its validation and the published JSON Schema (oidc-broker/broker.schema.json, `npm run schema:broker`) all
// come from here. Every mapping is closed: an unknown key is refused, so a typo never silently widens or narrows
// trust. Each message says what was wrong and what to do; config.ts adds the file, the line and the path. What needs
// more than one value at a time (a rule's provider and issuer, which fields that provider matches, shadowed rules, a
// repository used twice, the broker as its own issuer) is checked in config.ts; policy.ts compiles the rules.
import { z } from 'zod';
import { PROJECT_ID, PROJECT_ID_HINT } from '../../shared/contract/project';
import { parseCidr } from './address';
import { parseDuration } from './duration';
import { globProblem } from './glob';
import { PROVIDERS } from './providers';
import type { FieldKind, FieldSpec } from './providers/types';
import { ALL_GRANTS, PROVIDER_NAMES } from './providers/types';

export const MAX_TOKEN_TTL = 3600;
const ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
const REPO_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY_NAME = new RegExp(`^${REPO_COMPONENT}(?:/${REPO_COMPONENT})*$`);
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9._#-]*$/;
const ISSUER_KEY = /^[a-z0-9][a-z0-9_-]*$/;
/** Claim names (required_claims, a rule's `claims:`): GitHub's (`ref_type`), and namespaced ones
 * (`oidc.circleci.com/project-id`). */
const CLAIM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$/;
const PINNED_CLAIM = CLAIM_NAME;
const REGISTRY_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;
const DURATION = /^\s*(\d+|(\d+[smhd])+)\s*$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A value as shown in a message: strings as they are, anything else as JSON. */
function shown(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/** A closed mapping: unknown keys are refused, naming the keys allowed there. */
function mapping<T extends z.core.$ZodLooseShape>(shape: T, what: string, keys?: string) {
  const allowed = keys ?? Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `unknown key (allowed here: ${allowed})`
        : iss.input === undefined
          ? `is required: a mapping ${what}`
          : `must be a mapping ${what}`,
  });
}

/** A non-empty string; `missing` when absent, `wrong` when not a string or empty. */
function text(missing = 'is required', wrong = 'must be a non-empty string') {
  return z
    .string({ error: (iss) => (iss.input === undefined ? missing : wrong) })
    .min(1, { error: wrong, abort: true });
}

const bool = () => z.boolean({ error: 'must be true or false' });

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/;
const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

/** Bytes of a size such as `20GiB`, `500MB` or a number of bytes; undefined when it is not one. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  const m = SIZE.exec(value);
  if (!m?.[1]) return undefined;
  const bytes = Math.floor(Number(m[1]) * (SIZE_UNITS[m[2] ?? 'B'] ?? 1));
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** A size: `20GiB`, `500MB` (KB/MB/GB/TB and KiB/MiB/GiB/TiB) or a whole number of bytes; parsed to bytes. */
function size(example: string) {
  const notSize = (iss: { input?: unknown }) =>
    `"${shown(iss.input)}" is not a size (e.g. ${example}: a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)`;
  return z
    .union([z.string({ error: notSize }), z.int({ error: notSize })], { error: notSize })
    .transform((v, ctx) => {
      const bytes = parseSize(v);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: notSize({ input: v }), input: v });
        return z.NEVER;
      }
      return bytes;
    });
}

/** Why `s` is not a broker-usable http(s) URL, or undefined. */
function urlProblem(s: string): string | undefined {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return `"${s}" is not a URL`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `"${s}" must be an http(s) URL`;
  if (url.search || url.hash || url.username || url.password)
    return `"${s}" must not carry a query, fragment or credentials`;
  return undefined;
}

/** An http(s) URL without query, fragment or credentials; trailing slashes dropped. */
function httpUrl(opts: { loopbackOnlyHttp?: boolean } = {}) {
  return text()
    .meta({ format: 'uri' })
    .superRefine((s, ctx) => {
      const problem = urlProblem(s);
      if (problem) return ctx.addIssue({ code: 'custom', message: problem, input: s });
      if (opts.loopbackOnlyHttp && new URL(s).protocol === 'http:' && !isLoopback(new URL(s)))
        ctx.addIssue({
          code: 'custom',
          message: `"${s}" is http:// on a non-loopback host: use https`,
          input: s,
        });
    })
    .transform((s) => s.replace(/\/+$/, ''));
}

/** A duration (`90s`, `15m`, `1h30m`, or a number of seconds), parsed to seconds. */
function duration(example: string, bounds: { max?: number; min?: number } = {}) {
  const longest =
    bounds.max === undefined ? '' : bounds.max % 3600 === 0 ? `${bounds.max / 3600}h` : `${bounds.max}s`;
  const notDuration = (iss: { input?: unknown }) =>
    `"${shown(iss.input)}" is not a duration (e.g. ${example})`;
  const shortest =
    bounds.min === undefined ? '' : bounds.min % 60 === 0 ? `${bounds.min / 60}m` : `${bounds.min}s`;
  return z
    .union(
      [
        z.string({ error: notDuration }).regex(DURATION, { error: notDuration, abort: true }),
        z.int({ error: notDuration }).positive({ error: notDuration, abort: true }),
      ],
      { error: notDuration },
    )
    .superRefine((v, ctx) => {
      const seconds = parseDuration(v);
      if (seconds === undefined)
        ctx.addIssue({ code: 'custom', message: notDuration({ input: v }), input: v });
      else if (bounds.max !== undefined && seconds > bounds.max)
        ctx.addIssue({
          code: 'custom',
          message: `${shown(v)} is longer than the cap of ${longest}`,
          input: v,
        });
      else if (bounds.min !== undefined && seconds < bounds.min)
        ctx.addIssue({ code: 'custom', message: `${shown(v)} is shorter than ${shortest}`, input: v });
    })
    .transform((v) => parseDuration(v) ?? 0);
}

/** A per-minute request limit with its default; 0 turns the limit off. */
function perMinute(dflt: number) {
  const error = 'must be a whole number of requests per minute (0 turns the limit off)';
  return z.int({ error }).min(0, { error }).default(dflt);
}

/** A list of addresses or CIDR ranges. */
function addressList() {
  return z.array(
    z
      .string({ error: 'must be an address or CIDR range (e.g. 10.0.0.0/8)' })
      .refine((s) => parseCidr(s) !== undefined, {
        error: (iss) => `"${shown(iss.input)}" is not an address or CIDR range (e.g. 10.0.0.0/8, fd00::/8)`,
      }),
    { error: 'must be a list of addresses or CIDR ranges (e.g. [10.0.0.0/8])' },
  );
}

/** The refusal of a provider name outside the contract's list; `hint` ends it. */
export function notAProvider(value: unknown, hint = ''): string {
  return `"${shown(value)}" is not a provider: use one of ${PROVIDER_NAMES.join(', ')}${hint}`;
}

function providerName(hint: string) {
  return z.enum(PROVIDER_NAMES, { error: (iss) => notAProvider(iss.input, hint) });
}

/** A rule field's value once parsed: a string (ids too), or a list. */
export type FieldValue = string | string[];

/** The value of a rule field, by how it matches its claim. Ids and flags become strings. */
export function fieldSchema(kind: FieldKind): z.ZodType<FieldValue, unknown> {
  switch (kind.kind) {
    case 'exact': {
      const error = 'must be a non-empty string without leading or trailing spaces';
      return z.string({ error }).regex(/^\S(?:[\s\S]*\S)?$/, { error });
    }
    case 'exact-ascii-ci': {
      const error = (iss: { input?: unknown }) =>
        `"${shown(iss.input)}" is not ${kind.hint} (exact, no globs)`;
      return z.string({ error }).regex(kind.pattern, { error });
    }
    case 'exact-pattern':
    case 'element': {
      const error = (iss: { input?: unknown }) => `"${shown(iss.input)}" is not ${kind.hint}`;
      return z.string({ error }).regex(kind.pattern, { error });
    }
    case 'flag': {
      const error = (iss: { input?: unknown }) => `"${shown(iss.input)}" is not true or false`;
      return z
        .union([z.boolean({ error }), z.enum(['true', 'false'], { error })], { error })
        .transform(String);
    }
    case 'id': {
      const error = (iss: { input?: unknown }) =>
        `"${shown(iss.input)}" is not a numeric id (quote it: "123456")`;
      return z
        .union(
          [z.string({ error }).regex(/^[1-9][0-9]*$/, { error }), z.int({ error }).positive({ error })],
          {
            error,
          },
        )
        .transform(String);
    }
    case 'glob':
      return z.string({ error: 'must be a string pattern' }).superRefine((v, ctx) => {
        const problem = globProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: `pattern ${problem}`, input: v });
      });
    case 'list': {
      const error = (iss: { input?: unknown }) => `"${shown(iss.input)}" is not a valid value`;
      return z
        .array(z.string({ error }).regex(kind.pattern, { error }), { error: 'must be a non-empty list' })
        .min(1, { error: 'must be a non-empty list' });
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown rule field kind ${JSON.stringify(never)}`);
    }
  }
}

function kindText(spec: FieldSpec): string {
  return JSON.stringify(spec.match, (_key, v: unknown) => (v instanceof RegExp ? String(v) : v));
}

/** What a rule field's value is, in a few words, for a value no provider accepts. */
function kindHint(kind: FieldKind): string {
  switch (kind.kind) {
    case 'exact':
      return 'an exact string';
    case 'exact-ascii-ci':
    case 'exact-pattern':
    case 'element':
      return kind.hint;
    case 'id':
      return 'a numeric id, quoted';
    case 'flag':
      return 'true or false';
    case 'glob':
      return 'a glob';
    case 'list':
      return 'a list';
    default: {
      const never: never = kind;
      throw new Error(`unknown rule field kind ${JSON.stringify(never)}`);
    }
  }
}

/** Rule fields two providers name alike but match differently (CircleCI's project_id is a UUID, GitLab's a
 * number): the schema accepts what either accepts, and config.ts checks the value against the rule's own provider.
 * Only scalar kinds may share a name this way; a list and a string under one name is refused. */
export const SHARED_FIELDS = new Set<string>();

/** The rule fields of every implemented provider; a rule's own provider's fields are checked in config.ts. */
function ruleFields(): Record<string, z.ZodOptional<z.ZodType<FieldValue, unknown>>> {
  const byName = new Map<string, { provider: string; spec: FieldSpec }[]>();
  for (const provider of Object.values(PROVIDERS)) {
    for (const spec of provider.fields) {
      const list = byName.get(spec.name) ?? [];
      list.push({ provider: provider.name, spec });
      byName.set(spec.name, list);
    }
  }
  const shape: Record<string, z.ZodOptional<z.ZodType<FieldValue, unknown>>> = {};
  for (const [name, specs] of byName) {
    const first = specs[0];
    if (!first) continue;
    const description =
      specs.length === 1 && first.provider === 'github-actions'
        ? first.spec.description
        : specs.map((s) => `${s.provider}: ${s.spec.description}`).join(' ');
    const kinds = [...new Map(specs.map((s) => [kindText(s.spec), s.spec.match])).values()];
    const [only] = kinds;
    if (kinds.length === 1 && only) {
      shape[name] = fieldSchema(only).optional().describe(description);
      continue;
    }
    if (kinds.some((k) => k.kind === 'list')) {
      throw new Error(`two providers define the rule field ${name} differently: give one another name`);
    }
    SHARED_FIELDS.add(name);
    // Checked against the rule's own provider in config.ts, with that provider's message.
    const error = `must be ${specs.map((s) => `${kindHint(s.spec.match)} (${s.provider})`).join(' or ')}`;
    shape[name] = z
      .union([z.string({ error }), z.number({ error })], { error })
      .transform(String)
      .optional()
      .describe(description);
  }
  return shape;
}

const RULE_FIELDS = ruleFields();

const grantsSchema = z
  .array(
    z.enum(ALL_GRANTS, {
      error: (iss) => `"${shown(iss.input)}" is not a grant: use ${ALL_GRANTS.join(', ')}`,
    }),
    { error: `must be a non-empty list of ${ALL_GRANTS.join(', ')}` },
  )
  .min(1, { error: `must be a non-empty list of ${ALL_GRANTS.join(', ')}` })
  .superRefine((grants, ctx) => {
    grants.forEach((g, i) => {
      if (grants.indexOf(g) !== i)
        ctx.addIssue({ code: 'custom', message: `"${g}" is listed twice`, path: [i], input: g });
    });
  })
  .meta({ uniqueItems: true });

const PIN = 'must be the key of an entry under issuers (e.g. github-actions)';
const RuleBase = {
  id: z
    .string({ error: (iss) => `"${shown(iss.input)}" is not a rule id: use letters, digits, ., _, - and #` })
    .regex(RULE_ID, {
      error: (iss) => `"${shown(iss.input)}" is not a rule id: use letters, digits, ., _, - and #`,
    })
    .optional()
    .describe(
      'The rule id, shown in refusals, audit records and the `rule` claim (default: <project>#<index>).',
    ),
  provider: providerName('')
    .optional()
    .describe('The CI provider whose tokens this rule matches (or name `issuer:` instead).'),
  issuer: text(PIN, PIN)
    .optional()
    .describe(
      'Pins one entry under `issuers` (its key); needed when a provider has several issuer entries. Sets the provider.',
    ),
  grants: grantsSchema
    .optional()
    .describe(
      'What a matching token may do (default: all). A pull_request token gets cache:write only when the rule lists it and names the event; a rule without repository_id never grants cache:write.',
    ),
  isolated: bool()
    .optional()
    .describe('Every token this rule mints is isolated: scope build only, no cache claim (default false).'),
  claims: z
    .record(
      z.string().regex(PINNED_CLAIM, {
        error: (iss) => `"${shown(iss.input)}" is not a claim name`,
      }),
      z
        .string({ error: 'must be a string: the exact value or a glob (* within a path segment, ** across)' })
        .superRefine((v, ctx) => {
          const problem = globProblem(v);
          if (problem) ctx.addIssue({ code: 'custom', message: `pattern ${problem}`, input: v });
        }),
      { error: 'must be a mapping of claim name to its exact value or glob (e.g. {ref_type: branch})' },
    )
    .optional()
    .describe(
      "Claims the broker does not model, pinned to an exact value or a glob with ref's semantics: `{runner_environment: github-hosted, ref_type: branch}`. An absent or non-string claim never matches; a field the provider models is named as a rule key instead.",
    ),
};

/** The keys a rule may have, per provider: what an unknown key's message lists. */
function ruleKeys(): string {
  const perProvider = Object.values(PROVIDERS).map(
    (p) => `${p.name}: ${p.fields.map((f) => f.name).join(', ')}`,
  );
  return `${Object.keys(RuleBase).join(', ')}; ${perProvider.join('; ')}`;
}

const RuleObject = mapping(
  { ...RuleBase, ...RULE_FIELDS },
  '{provider, repository, repository_id, ...}',
  ruleKeys(),
).describe(
  'A trust rule. Rules are tried in file order; the first match sets the grants, the isolation and the `rule` claim.',
);

/** A trust rule: `provider` or `issuer` (config.ts checks the pair), grants, isolation, and the claim fields it
 * matches, gathered under `fields` (which of them the rule's provider matches is checked in config.ts). */
export const RuleSchema = RuleObject.transform(
  ({ id, provider, issuer, grants, isolated, claims, ...rest }) => {
    const fields: Record<string, FieldValue> = {};
    for (const [name, value] of Object.entries(rest as Record<string, FieldValue | undefined>)) {
      if (value !== undefined) fields[name] = value;
    }
    return { id, provider, issuer, grants, isolated, fields, claims: claims ?? {} };
  },
);
export type RuleFile = z.output<typeof RuleSchema>;

/** `cache:` limits, globally (the defaults) and per project: what `broker cache prune` enforces. */
export const CacheLimitsSchema = mapping(
  {
    max_size: size('20GiB')
      .optional()
      .describe(
        "The most a project's cache may hold in the registry (manifests and the blobs they reference), e.g. 20GiB; `cache prune` deletes the oldest cache tags above it.",
      ),
    max_age: duration('30d', { min: 3600 })
      .optional()
      .describe(
        'How long an unused cache tag is kept (at least 1h), e.g. 30d; `cache prune` deletes older ones.',
      ),
  },
  '{max_size, max_age}',
);
export type CacheLimitsFile = z.output<typeof CacheLimitsSchema>;
export const CACHE_DEFAULTS = { maxSize: 20 * 2 ** 30, maxAge: 30 * 86_400 };

export const ProjectSchema = mapping(
  {
    id: text()
      .regex(PROJECT_ID, {
        error: (iss) => `"${shown(iss.input)}" is not a project id: use ${PROJECT_ID_HINT} (e.g. web)`,
      })
      .describe(
        `The project id, also a registry path segment (cache/<id>, builds/<id>): ${PROJECT_ID_HINT}.`,
      ),
    cache_repository: text()
      .regex(REPOSITORY_NAME, {
        error: (iss) =>
          `"${shown(iss.input)}" is not a registry repository name (lower case, e.g. cache/<project id>)`,
      })
      .optional()
      .describe('The registry repository of the project cache (default: cache/<id>); never under builds/.'),
    fork_policy: z
      .enum(['isolated', 'deny'], {
        error: (iss) => `"${shown(iss.input)}" is not a fork policy: use isolated or deny`,
      })
      .optional()
      .describe(
        'isolated | deny (default deny). isolated: a pull_request run from a fork of a repository this project covers may claim an isolated token (scope build, no cache) through /auth/oidc/public/claim; needs a GitHub token (github.token_env).',
      ),
    rules: z
      .array(RuleSchema, {
        error:
          'is required: a list of trust rules (e.g. {provider: github-actions, repository: acme/web, repository_id: "123"})',
      })
      .min(1, {
        error:
          'is required: a list of trust rules (e.g. {provider: github-actions, repository: acme/web, repository_id: "123"})',
      })
      .describe('The trust rules, tried in file order.'),
    cache: CacheLimitsSchema.optional().describe(
      "This project's cache limits; a key left out takes the global `cache:` value.",
    ),
  },
  '{id, cache_repository, fork_policy, rules, cache}',
).describe('A project: the cache namespace a token is for.');
export type ProjectFile = z.output<typeof ProjectSchema>;

export const IssuerKeySchema = z.string().regex(ISSUER_KEY, {
  error: (iss) => `"${shown(iss.input)}" is not an issuer key: use lower case letters, digits, - and _`,
});

const ISSUER_REQUIRED =
  'is required: the exact `iss` of the tokens (e.g. https://token.actions.githubusercontent.com)';
export const IssuerEntrySchema = mapping(
  {
    provider: providerName(' (or name the entry after one)')
      .optional()
      .describe('The CI provider of these tokens (default: the entry key).'),
    issuer: text(ISSUER_REQUIRED, ISSUER_REQUIRED)
      .meta({ format: 'uri' })
      .superRefine((s, ctx) => {
        let url: URL;
        try {
          url = new URL(s);
        } catch {
          return ctx.addIssue({ code: 'custom', message: `"${s}" is not a URL`, input: s });
        }
        if (url.protocol === 'http:' && !isLoopback(url)) {
          ctx.addIssue({
            code: 'custom',
            message: `"${s}" is http:// on a non-loopback host: use https (http is accepted only on 127.0.0.1, localhost or [::1])`,
            input: s,
          });
        } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
          ctx.addIssue({ code: 'custom', message: `"${s}" must be an https URL`, input: s });
        }
      })
      .describe('The exact `iss` of the tokens. http:// only on a loopback host.'),
    jwks_uri: httpUrl({ loopbackOnlyHttp: true })
      .optional()
      .describe(
        "The issuer's key set (default: github-actions and buildkite <issuer>/.well-known/jwks, circleci <issuer>/.well-known/jwks-pub.json, gitlab <issuer>/oauth/discovery/keys). http:// only on a loopback host.",
      ),
    algorithms: z
      .array(
        z.enum(ALGORITHMS, {
          error: (iss) =>
            `"${shown(iss.input)}" is not an asymmetric JWS algorithm (use one of ${ALGORITHMS.join(', ')})`,
        }),
        { error: 'must be a non-empty list (e.g. [RS256])' },
      )
      .min(1, { error: 'must be a non-empty list (e.g. [RS256])' })
      .optional()
      .describe("Accepted signing algorithms (default: the provider's, RS256 for all four)."),
    audience: text()
      .optional()
      .describe('The `aud` the tokens must carry (default: the top-level audience).'),
    single_use: bool()
      .optional()
      .describe(
        'Refuse a token (its jti) seen before (default: true for github-actions, false for the others).',
      ),
    max_token_age: duration('10m')
      .optional()
      .describe(
        "The oldest `iat` accepted (default: the provider's: 15m for github-actions, 1h for circleci and gitlab, 10m for buildkite).",
      ),
    required_claims: z
      .array(
        z
          .string({ error: (iss) => `"${shown(iss.input)}" is not a claim name` })
          .regex(CLAIM_NAME, { error: (iss) => `"${shown(iss.input)}" is not a claim name` }),
        { error: 'must be a list of claim names' },
      )
      .optional()
      .describe("Claims every token must carry, beyond iss, aud, exp, iat and the provider's own."),
  },
  '{issuer, jwks_uri, ...}',
).describe('An issuer entry: tokens whose `iss` equals `issuer` are verified with its key set.');
export type IssuerEntryFile = z.output<typeof IssuerEntrySchema>;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `store:`: the state's engine. Only PostgreSQL has settings; its URL is read from an env variable (it may carry a
 * password, which never belongs in the config file). */
export const StoreSchema = mapping(
  {
    postgres: mapping(
      {
        url_env: text()
          .regex(ENV_NAME, {
            // The value is never shown: a URL put here by mistake may carry a password.
            error:
              'must be the name of an environment variable (e.g. BROKER_DATABASE_URL), not the URL itself',
          })
          .default('BROKER_DATABASE_URL')
          .describe(
            'The environment variable holding the database URL, postgres://user:password@host:port/database (default: BROKER_DATABASE_URL). BROKER_KEY_SECRET must be set too: private keys are stored encrypted with it.',
          ),
      },
      '{url_env}',
    ).describe('PostgreSQL: every instance on one database shares the state.'),
  },
  '{postgres}',
);
export type StoreFile = z.output<typeof StoreSchema>;

/** The store a parsed config chose: what `openStore` takes (config.ts puts it in BrokerConfig.store). */
export type StoreConfig = { engine: 'sqlite' } | { engine: 'postgres'; urlEnv: string };

export function storeConfig(file: StoreFile | undefined): StoreConfig {
  return file?.postgres ? { engine: 'postgres', urlEnv: file.postgres.url_env } : { engine: 'sqlite' };
}

const ISSUERS_REQUIRED = 'is required: a mapping of issuer entries (e.g. github-actions: {issuer, jwks_uri})';

export const BrokerFileSchema = mapping(
  {
    public_url: httpUrl({ loopbackOnlyHttp: true }).describe(
      'The broker URL: the iss of project tokens; the registry realm is <public_url>/v2/token. https:// (http:// only on a loopback host: CI jobs send their OIDC tokens here).',
    ),
    audience: text()
      .optional()
      .describe('The default `aud` accepted in CI OIDC tokens (default: public_url).'),
    token_ttl: duration('15m, 1h', { max: MAX_TOKEN_TTL, min: 60 })
      .prefault('1h')
      .describe('The project token lifetime, from 60s up to the cap of 1h.'),
    issuers: z
      .record(IssuerKeySchema, IssuerEntrySchema, { error: ISSUERS_REQUIRED })
      .refine((r) => Object.keys(r).length > 0, { error: ISSUERS_REQUIRED })
      .describe(
        'The closed registry of trusted issuers, keyed by a name; a token whose iss is not listed is refused, nothing fetched.',
      ),
    registry: mapping(
      {
        host: text()
          .regex(REGISTRY_HOST, {
            error: (iss) => `"${shown(iss.input)}" is not a registry host (host or host:port)`,
          })
          .default('localhost:5001')
          .describe('The cache registry, host or host:port; a cache claim is <host>/<cache_repository>.'),
        service: text()
          .default('depot-cache')
          .describe('The registry token service (the aud of registry tokens).'),
      },
      '{host, service}',
    )
      .default({ host: 'localhost:5001', service: 'depot-cache' })
      .describe('The cache registry this broker is the token service of.'),
    github: mapping(
      {
        api_url: httpUrl()
          .default('https://api.github.com')
          .describe('The GitHub API URL (default: https://api.github.com).'),
        token_env: text()
          .default('BROKER_GITHUB_TOKEN')
          .describe(
            'The environment variable holding the GitHub token the broker reads runs, pull requests and artifacts with (default: BROKER_GITHUB_TOKEN).',
          ),
      },
      '{api_url, token_env}',
    )
      .optional()
      .describe(
        'The GitHub API the fork-PR claim flow asks (defaults apply when absent). Only rules of the github-actions issuer entry this API belongs to cover a repository for fork claims.',
      ),
    projects: z
      .array(ProjectSchema, { error: 'must be a list of projects' })
      .nullable()
      .optional()
      .describe('The projects and their trust rules; with none, every exchange is refused.'),
    trusted_proxies: addressList()
      .default([])
      .describe(
        'Proxies in front of the broker (CIDR): when the socket peer is one, the client is the right-most X-Forwarded-For address that is not. Rate limits, audit rows, logs and metrics_allow use that address.',
      ),
    metrics_allow: addressList()
      .default([])
      .describe(
        'Who besides loopback may read /metrics (CIDR), judged on the client address; others get 404.',
      ),
    registry_signer_ttl: duration('24h', { min: 15 * 60, max: 30 * 86_400 })
      .prefault('24h')
      .describe(
        'How long a registry token signer certificate lives (15m to 30d). It is renewed well before it runs out; the registry refuses tokens signed by an expired one.',
      ),
    key_rotation: duration('30d', { min: 3600 })
      .prefault('30d')
      .describe(
        'How often the project-token signing key is replaced (at least 1h); old keys stay published until their tokens have expired.',
      ),
    rate_limit: mapping(
      {
        per_address: perMinute(1200).describe(
          'Exchange requests per minute per client address; 0 turns the limit off.',
        ),
        failures_per_address: perMinute(120).describe(
          'Refused exchanges per minute per client address before further requests get 429; 0: off.',
        ),
        registry_per_address: perMinute(1200).describe(
          '/v2/token logins per minute per client address, granted or refused (each is an audit row); 0: off.',
        ),
        registry_failures_per_address: perMinute(300).describe(
          'Refused /v2/token logins per minute per client address before further ones get 429 (BuildKit behind a NAT shares one address); 0: off.',
        ),
        claims_per_address: perMinute(30).describe(
          'Fork-PR claims (POST /auth/oidc/public/claim) per minute per client address; 0: off.',
        ),
        claims_per_run: perMinute(30).describe(
          'Fork-PR claims per minute naming one workflow run (repository and run id); 0: off.',
        ),
      },
      '{per_address, failures_per_address, registry_per_address, registry_failures_per_address, claims_per_address, claims_per_run}',
    )
      .default({
        per_address: 1200,
        failures_per_address: 120,
        registry_per_address: 1200,
        registry_failures_per_address: 300,
        claims_per_address: 30,
        claims_per_run: 30,
      })
      .describe(
        'Per-address limits on the exchange endpoints (fork-claim polls count under per_address, their refusals under failures_per_address; a pending answer never counts), the fork-PR claims and the registry token service. An IPv6 client counts by its /64, an IPv4 one by its address.',
      ),
    audit_retention: duration('90d', { min: 86_400 })
      .prefault('90d')
      .describe('How long audit rows are kept (at least 1d); older ones are purged in the background.'),
    audit_unverified_per_minute: perMinute(600).describe(
      'Audit rows per minute, in all (every instance on a PostgreSQL store together), for refusals that never got past signature verification (each client address at most one a minute); past it, one aggregate row a minute with the count (one per instance). 0: only the aggregate row.',
    ),
    cache: CacheLimitsSchema.default({}).describe(
      'The default cache limits of every project (20GiB, 30d when left out); a project may set its own.',
    ),
    store: StoreSchema.optional().describe(
      'Where the broker keeps its state (used jtis, audit, revocations, claims, keys): absent, the embedded SQLite file in the data directory (one instance); `postgres:`, a PostgreSQL database several instances share.',
    ),
  },
  '{public_url, issuers, projects, ...}',
).meta({
  title: 'Depot OIDC broker config (broker.yml)',
  description:
    'The OIDC broker configuration: issuers it trusts, projects and their trust rules. DESIGN.md "Broker configuration".',
});
export type BrokerFile = z.output<typeof BrokerFileSchema>;

/** The published JSON Schema of broker.yml: what an editor validates and completes (the file as written). */
export function brokerJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(BrokerFileSchema, {
    target: 'draft-07',
    io: 'input',
    override: (ctx) => {
      // A rule names its provider, or pins an issuer entry that implies it (config.ts checks the pair).
      if (ctx.zodSchema === RuleObject)
        ctx.jsonSchema.anyOf = [{ required: ['provider'] }, { required: ['issuer'] }];
    },
  });
}
