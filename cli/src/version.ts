// The CLI's version: the repository's package.json version, inlined into the bundle at build time.
import pkg from '../../package.json';

export const VERSION: string = pkg.version;
