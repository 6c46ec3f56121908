// The flags of the small commands (depot pull, push, init, configure-docker, version; the broker's commands) through
// node:util parseArgs, strictly. A bad command line is one UserError line naming the flag and where the help is,
// never parseArgs' own TypeError text: "unknown flag --x for depot init (see depot init --help)".
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { UserError } from './errors';

export type FlagOptions = NonNullable<ParseArgsConfig['options']>;

export interface FlagSpec<O extends FlagOptions> {
  /** The command as messages name it: `depot init`, `serve`. */
  command: string;
  options: O;
  /** How to get the command's help (default: `<command> --help`). */
  help?: string;
  /** How many positional arguments the command takes at most (default 0; Infinity to check them yourself). */
  positionals?: number;
}

export type ParsedFlags<O extends FlagOptions> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>
>;

export function parseFlags<const O extends FlagOptions>(
  argv: readonly string[],
  spec: FlagSpec<O>,
): ParsedFlags<O> {
  const see = `(see ${spec.help ?? `${spec.command} --help`})`;
  const max = spec.positionals ?? 0;
  // A lenient pass first, for tokens to check one by one; then the strict parse, which can no longer fail.
  const { tokens } = parseArgs({
    args: [...argv],
    options: spec.options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  let positionals = 0;
  for (const t of tokens) {
    if (t.kind === 'positional' && ++positionals > max) {
      throw new UserError(
        max === 0
          ? `${spec.command} takes no arguments, got "${t.value}" ${see}`
          : `${spec.command} takes at most ${max} argument(s), got "${t.value}" too ${see}`,
      );
    }
    if (t.kind !== 'option') continue;
    const option = Object.hasOwn(spec.options, t.name) ? spec.options[t.name] : undefined;
    if (!option) throw new UserError(`unknown flag ${t.rawName} for ${spec.command} ${see}`);
    if (option.type === 'boolean' && t.value !== undefined) {
      throw new UserError(`${t.rawName} takes no value for ${spec.command} ${see}`);
    }
    // `--project --debug` is a missing value (as strict parseArgs has it), not a project named --debug.
    const missing = t.value === undefined || t.value === '' || (!t.inlineValue && /^-./.test(t.value));
    if (option.type === 'string' && missing) {
      throw new UserError(`${t.rawName} needs a value for ${spec.command} ${see}`);
    }
  }
  try {
    return parseArgs({ args: [...argv], options: spec.options, strict: true, allowPositionals: true });
  } catch (err: unknown) {
    const code = err !== null && typeof err === 'object' && 'code' in err ? String(err.code) : 'error';
    throw new UserError(`cannot read the arguments of ${spec.command} (${code}) ${see}`);
  }
}
