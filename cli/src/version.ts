// The CLI's version: the repository's package.json version, inlined into the bundle at build time.
import pkg from '../../package.json';
import { parseFlags } from '../../shared/args';

export const VERSION: string = pkg.version;

export const VERSION_HELP = `Usage: depot version

Print depot's version (\`depot --version\` does the same).

Options:
  -h, --help        this help
`;

export function version(argv: readonly string[]): number {
  const { values } = parseFlags(argv, {
    command: 'depot version',
    options: { help: { type: 'boolean', short: 'h' } },
  });
  process.stdout.write(values.help ? VERSION_HELP : `depot ${VERSION}\n`);
  return 0;
}
