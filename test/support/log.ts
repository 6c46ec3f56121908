// A broker logger for tests: pino as the broker makes it (no base fields), each line pushed into `lines` as written,
// so a test can read what an operator would see, or scan it for secrets.
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from 'pino';

export function logInto(lines: string[]): Logger {
  return pino(
    { base: undefined },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
}
