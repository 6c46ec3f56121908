// Flags and env variables, read once into one typed object. Flags win over env; a bad value is one ConfigError
// line naming the flag or variable.
import { resolve } from 'node:path';
import { ConfigError } from './errors';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const DEFAULT_CONFIG = resolve(REPO_ROOT, 'examples', 'broker.yml');
export const DEFAULT_DATA_DIR = resolve(REPO_ROOT, '.tmp', 'broker');
export const DEFAULT_LISTEN = '127.0.0.1:8080';

export interface Settings {
  command: string;
  /** Positional arguments after the command. */
  args: string[];
  config: string;
  dataDir: string;
  listen: { host: string; port: number };
  flags: Map<string, string>;
}

const COMMANDS = ['serve', 'validate-config', 'audit', 'rotate-keys', 'registry-config'];
const FLAGS: Record<string, string[]> = {
  serve: ['config', 'data-dir', 'listen'],
  'validate-config': ['config'],
  audit: ['data-dir', 'since', 'repository', 'config'],
  'rotate-keys': ['data-dir', 'config'],
  'registry-config': ['config', 'data-dir', 'listen', 'storage'],
};

export function parseListen(value: string, what: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port > 65535) {
    throw new ConfigError(`${what} "${value}" is not HOST:PORT (e.g. 127.0.0.1:8080)`);
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

export function parseSettings(argv: string[], env: NodeJS.ProcessEnv): Settings {
  let command = 'serve';
  const rest = [...argv];
  if (rest[0] !== undefined && !rest[0].startsWith('-')) {
    command = rest.shift() ?? 'serve';
    if (!COMMANDS.includes(command)) {
      throw new ConfigError(`unknown command "${command}": use one of ${COMMANDS.join(', ')}`);
    }
  }
  const flags = new Map<string, string>();
  const args: string[] = [];
  const allowed = FLAGS[command] ?? [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] ?? '';
    if (!a.startsWith('--')) {
      args.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (!allowed.includes(name)) {
      throw new ConfigError(
        `unknown flag --${name} for ${command} (allowed: ${allowed.map((f) => `--${f}`).join(', ')})`,
      );
    }
    const value = eq < 0 ? rest[++i] : a.slice(eq + 1);
    if (value === undefined || value === '') throw new ConfigError(`--${name} needs a value`);
    flags.set(name, value);
  }
  const config = flags.get('config') ?? env.BROKER_CONFIG ?? DEFAULT_CONFIG;
  const dataDir = flags.get('data-dir') ?? env.BROKER_DATA_DIR ?? DEFAULT_DATA_DIR;
  const listenText = flags.get('listen') ?? env.BROKER_LISTEN ?? DEFAULT_LISTEN;
  const listen = parseListen(
    listenText,
    flags.has('listen') ? '--listen' : env.BROKER_LISTEN ? 'BROKER_LISTEN' : 'listen',
  );
  if (env.BROKER_CONFIG === '' && !flags.has('config'))
    throw new ConfigError('BROKER_CONFIG is set but empty');
  if (env.BROKER_DATA_DIR === '' && !flags.has('data-dir'))
    throw new ConfigError('BROKER_DATA_DIR is set but empty');
  return { command, args, config: resolve(config), dataDir: resolve(dataDir), listen, flags };
}
