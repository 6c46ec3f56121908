// depot's own lines go to stderr with a `depot:` prefix, so stdout stays buildx's (e.g. `--call outline` JSON).
// Every line passes through the redactor: a secret registered with `addSecret` never reaches the terminal.

const secrets = new Set<string>();

export function addSecret(value: string): void {
  if (value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

let debugOn = false;

export function setDebug(on: boolean): void {
  debugOn = on;
}

export function isDebug(): boolean {
  return debugOn;
}

export const log = {
  info(message: string): void {
    process.stderr.write(`depot: ${redact(message)}\n`);
  },
  warn(message: string): void {
    process.stderr.write(`depot: warning: ${redact(message)}\n`);
  },
  error(message: string): void {
    process.stderr.write(`depot: error: ${redact(message)}\n`);
  },
  debug(message: string): void {
    if (debugOn) process.stderr.write(`depot: debug: ${redact(message)}\n`);
  },
};

/** A command line as a person would type it, quoted where needed, with secrets redacted. */
export function showCommand(cmd: string, args: readonly string[]): string {
  const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return redact([cmd, ...args].map(quote).join(' '));
}
