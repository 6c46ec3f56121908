// Flags and env variables, read once into one typed object. Flags win over env; each command reads only the env
// variables its help lists; a bad value is one ConfigError line naming the flag or variable. `--help` (or `-h`),
// for the broker or one of its commands, is a Help to print instead.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseFlags } from '../../shared/args';
import type { FlagOptions } from '../../shared/args';
import { UserError } from '../../shared/errors';
import { ConfigError } from './errors';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
/**
 * Whether the broker runs from a checkout (`npm run broker`, this file's source beside it) or installed (the release
 * tarball or the image, a bundle): the defaults differ. Installed: /etc/depot-broker/broker.yml and
 * /var/lib/depot-broker, as a service expects; from a checkout: examples/broker.yml and .tmp/broker.
 */
export const FROM_CHECKOUT = existsSync(resolve(REPO_ROOT, 'oidc-broker', 'src', 'settings.ts'));
export const DEFAULT_CONFIG = FROM_CHECKOUT
  ? resolve(REPO_ROOT, 'examples', 'broker.yml')
  : '/etc/depot-broker/broker.yml';
export const DEFAULT_DATA_DIR = FROM_CHECKOUT
  ? resolve(REPO_ROOT, '.tmp', 'broker')
  : '/var/lib/depot-broker';
export const DEFAULT_LISTEN = '127.0.0.1:8080';
/** How the help names the program: the npm script in a checkout, the release's launcher when installed. */
const PROGRAM = FROM_CHECKOUT ? 'npm run broker --' : 'depot-broker';
const SHOWN_CONFIG = FROM_CHECKOUT ? 'examples/broker.yml' : DEFAULT_CONFIG;
const SHOWN_DATA_DIR = FROM_CHECKOUT ? '.tmp/broker' : DEFAULT_DATA_DIR;

export interface Settings {
  command: Command;
  /** Positional arguments after the command. */
  args: string[];
  config: string;
  dataDir: string;
  listen: { host: string; port: number };
  flags: Map<string, string>;
}

/** `--help`: the text to print on stdout, exit 0. */
export interface Help {
  command: Command | undefined;
  help: string;
}

type Flag =
  | 'config'
  | 'data-dir'
  | 'listen'
  | 'since'
  | 'repository'
  | 'request'
  | 'storage'
  | 'jti'
  | 'rule'
  | 'project'
  | 'before'
  | 'out'
  | 'from'
  | 'registry'
  | 'registry-config'
  | 'dry-run'
  | 'force'
  | 'every';
/** Flags that take no value. */
const BOOLEAN_FLAGS: ReadonlySet<Flag> = new Set(['dry-run', 'force']);
type Env =
  'BROKER_CONFIG' | 'BROKER_DATA_DIR' | 'BROKER_LISTEN' | 'BROKER_KEY_SECRET' | 'BROKER_KEY_SECRET_NEW';

interface CommandSpec {
  summary: string;
  usage: string;
  /** Each flag's value placeholder and what it sets. */
  flags: Partial<Record<Flag, [string, string]>>;
  env: Env[];
  /** Positional arguments it takes at most. */
  positionals?: number;
}

const ENV_HELP: Record<Env, string> = {
  BROKER_CONFIG: `the config file, when --config is not given (default: ${SHOWN_CONFIG})`,
  BROKER_DATA_DIR: `keys, state and audit, when --data-dir is not given (default: ${SHOWN_DATA_DIR})`,
  BROKER_KEY_SECRET:
    'with PostgreSQL: the secret (base64 of 32 random bytes) private keys in the database are encrypted with',
  BROKER_KEY_SECRET_NEW: 'the secret rotate-key-secret re-encrypts the stored private keys under',
  BROKER_LISTEN: `HOST:PORT to serve on, when --listen is not given (default: ${DEFAULT_LISTEN})`,
};

const COMMANDS = {
  serve: {
    summary: 'run the broker (the default command); SIGHUP reloads the config, SIGUSR2 rotates the keys',
    usage: 'serve [--config FILE] [--data-dir DIR] [--listen HOST:PORT]',
    flags: {
      config: ['FILE', 'the config file'],
      'data-dir': ['DIR', 'where keys, state and the audit live'],
      listen: ['HOST:PORT', 'where to serve'],
    },
    env: ['BROKER_CONFIG', 'BROKER_DATA_DIR', 'BROKER_LISTEN'],
  },
  'validate-config': {
    summary: 'check a config file and print what it holds',
    usage: 'validate-config [FILE] [--config FILE]',
    flags: { config: ['FILE', 'the config file (a FILE argument wins)'] },
    env: ['BROKER_CONFIG'],
    positionals: 1,
  },
  audit: {
    summary: 'print the audit records (exchanges, registry logins, revocations) as JSON lines',
    usage: 'audit [--config FILE] [--data-dir DIR] [--since WHEN] [--repository OWNER/NAME] [--request ID]',
    flags: {
      config: ['FILE', 'the config file (its store: SQLite in the data folder, or PostgreSQL)'],
      'data-dir': ['DIR', "the broker's data folder"],
      since: ['WHEN', 'only records since a time (2026-11-23T10:00:00Z) or a duration ago (1h)'],
      repository: ['OWNER/NAME', 'only records of this repository'],
      request: ['ID', 'only the records of one request (the request id a refusal names)'],
    },
    env: ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
  },
  revoke: {
    summary:
      'revoke project tokens: the registry token service refuses them (a running broker within 5 s); survives restarts',
    usage: 'revoke (--jti ID | --rule ID | --project ID) [--before WHEN] [--config FILE] [--data-dir DIR]',
    flags: {
      jti: ['ID', 'one project token (its jti, as the audit records it in tokenJti)'],
      rule: ['ID', 'every token minted under this rule id'],
      project: ['ID', 'every token of this project'],
      before: [
        'WHEN',
        'only tokens issued before a time (2026-11-23T10:00:00Z) or a duration ago (1h) (default with --rule/--project: now)',
      ],
      config: ['FILE', 'the config file (its store)'],
      'data-dir': ['DIR', "the broker's data folder"],
    },
    env: ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
  },
  'rotate-keys': {
    summary: 'rotate the signing keys (a running broker is asked to do it)',
    usage: 'rotate-keys [--config FILE] [--data-dir DIR]',
    flags: {
      config: ['FILE', 'the config file (its store)'],
      'data-dir': ['DIR', "the broker's data folder"],
    },
    env: ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
  },
  'rotate-key-secret': {
    summary:
      'with PostgreSQL: re-encrypt the private keys in the database under BROKER_KEY_SECRET_NEW (then give every instance that secret)',
    usage: 'rotate-key-secret [--config FILE]',
    flags: { config: ['FILE', 'the config file (its store: postgres)'] },
    env: ['BROKER_CONFIG', 'BROKER_KEY_SECRET', 'BROKER_KEY_SECRET_NEW'],
  },
  backup: {
    summary: "copy the broker's state to one file while it runs (SQLite; with PostgreSQL, use pg_dump)",
    usage: 'backup --out FILE [--config FILE] [--data-dir DIR]',
    flags: {
      out: ['FILE', 'where the backup is written (an existing file is not overwritten)'],
      config: ['FILE', 'the config file (its store)'],
      'data-dir': ['DIR', "the broker's data folder"],
    },
    env: ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
  },
  restore: {
    summary: 'put a backup back in the data folder (refused while a broker runs on it)',
    usage: 'restore --from FILE [--force] [--config FILE] [--data-dir DIR]',
    flags: {
      from: ['FILE', 'the backup file (from backup --out)'],
      force: ['', "restore a backup under another registry CA than the data folder's"],
      config: ['FILE', 'the config file (its store)'],
      'data-dir': ['DIR', "the broker's data folder"],
    },
    env: ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
  },
  cache: {
    summary:
      "the cache registry's project caches: `cache usage` (sizes), `cache prune` (past max_age / above max_size, then garbage collection), `cache reset --project P` (empty one)",
    usage:
      'cache (usage [--project ID] | prune [--project ID] [--dry-run] [--every DURATION] | reset --project ID) [--registry URL] [--registry-config FILE] [--config FILE] [--data-dir DIR]',
    flags: {
      project: ['ID', 'one project only (reset: required)'],
      'dry-run': ['', 'prune: say what would be deleted, delete nothing'],
      every: [
        'DURATION',
        "prune: run now and then every DURATION (e.g. 24h) until stopped: the image's schedule",
      ],
      registry: ['URL', 'the cache registry (default: http://<registry.host of the config>)'],
      'registry-config': [
        'FILE',
        "the registry's config file: prune and reset then collect its garbage, only while the registry refuses uploads (read-only)",
      ],
      config: ['FILE', 'the config file'],
      'data-dir': ['DIR', "the broker's data folder (the registry token signer)"],
    },
    env: ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
    positionals: 1,
  },
  'registry-config': {
    summary:
      "print a distribution registry config that uses the broker as the cache registry's token service",
    usage: 'registry-config [--config FILE] [--data-dir DIR] [--listen HOST:PORT] [--storage DIR]',
    flags: {
      config: ['FILE', 'the config file'],
      'data-dir': ['DIR', "the broker's data folder (its CA certificate)"],
      listen: ['HOST:PORT', "where the registry listens (default: the port of the config's registry.host)"],
      storage: ['DIR', "the registry's storage folder (default: DATA_DIR/registry)"],
    },
    env: ['BROKER_CONFIG', 'BROKER_DATA_DIR'],
  },
} satisfies Record<string, CommandSpec>;

export type Command = keyof typeof COMMANDS;
const NAMES = Object.keys(COMMANDS) as Command[];

function isCommand(word: string): word is Command {
  return Object.hasOwn(COMMANDS, word);
}

function columns(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `  ${k.padEnd(width)}${v}\n`).join('');
}

export const BROKER_HELP = `Usage: ${PROGRAM} [COMMAND] [OPTIONS]

The OIDC broker: swaps a CI job's OIDC token for a short-lived project token, and is the cache registry's token
service.

Commands:
${columns(NAMES.map((n) => [n, COMMANDS[n].summary]))}
Options:
${columns([['-h, --help', 'this help']])}
Environment:
${columns(Object.entries(ENV_HELP))}
Run \`${PROGRAM} COMMAND --help\` for a command's options and the variables it reads.
`;

export function commandHelp(command: Command): string {
  const spec: CommandSpec = COMMANDS[command];
  const flags = Object.entries(spec.flags).map(([f, [value, text]]): [string, string] => [
    value ? `--${f} ${value}` : `--${f}`,
    text,
  ]);
  return `Usage: ${PROGRAM} ${spec.usage}

${spec.summary[0]?.toUpperCase()}${spec.summary.slice(1)}.

Options:
${columns([...flags, ['-h, --help', 'this help']])}
Environment:
${columns(spec.env.map((e) => [e, ENV_HELP[e]]))}`;
}

export function parseListen(value: string, what: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port > 65535) {
    throw new ConfigError(`${what} "${value}" is not HOST:PORT (e.g. 127.0.0.1:8080)`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

function readFlags(command: Command, argv: string[]) {
  const spec: CommandSpec = COMMANDS[command];
  const options: FlagOptions = { help: { type: 'boolean', short: 'h' } };
  for (const f of Object.keys(spec.flags) as Flag[])
    options[f] = { type: BOOLEAN_FLAGS.has(f) ? 'boolean' : 'string' };
  try {
    return parseFlags(argv, {
      command,
      options,
      help: `${PROGRAM} ${command} --help`,
      positionals: spec.positionals ?? 0,
    });
  } catch (err: unknown) {
    if (err instanceof UserError) throw new ConfigError(err.message);
    throw err;
  }
}

export function parseSettings(argv: string[], env: NodeJS.ProcessEnv): Settings | Help {
  const first = argv[0];
  if (first === '--help' || first === '-h') return { command: undefined, help: BROKER_HELP };
  let command: Command = 'serve';
  let rest = argv;
  if (first !== undefined && !first.startsWith('-')) {
    if (!isCommand(first)) {
      throw new ConfigError(
        `unknown command "${first}": use one of ${NAMES.join(', ')} (see ${PROGRAM} --help)`,
      );
    }
    command = first;
    rest = argv.slice(1);
  }
  const { values, positionals } = readFlags(command, rest);
  if (values.help) return { command, help: commandHelp(command) };
  const flags = new Map<string, string>();
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string') flags.set(name, value);
    else if (value === true && name !== 'help') flags.set(name, 'true');
  }

  const reads = new Set<Env>(COMMANDS[command].env);
  const fromEnv = (name: Env): string | undefined => {
    if (!reads.has(name)) return undefined;
    if (env[name] === '') throw new ConfigError(`${name} is set but empty`);
    return env[name];
  };
  const config = flags.get('config') ?? fromEnv('BROKER_CONFIG') ?? DEFAULT_CONFIG;
  const dataDir = flags.get('data-dir') ?? fromEnv('BROKER_DATA_DIR') ?? DEFAULT_DATA_DIR;
  // --listen is the broker's address for serve and the registry's for registry-config: HOST:PORT either way.
  const listenFlag = flags.get('listen');
  const listenEnv = listenFlag === undefined ? fromEnv('BROKER_LISTEN') : undefined;
  const listen = parseListen(
    listenFlag ?? listenEnv ?? DEFAULT_LISTEN,
    listenFlag !== undefined ? '--listen' : listenEnv !== undefined ? 'BROKER_LISTEN' : 'listen',
  );
  return { command, args: positionals, config: resolve(config), dataDir: resolve(dataDir), listen, flags };
}
