// Serves the files of a folder over real HTTP (a release mirror for actions/setup), recording every request.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startStubServer } from './stub-server';
import type { StubServer } from './stub-server';

export async function serveFolder(dir: string): Promise<StubServer> {
  const server = await startStubServer();
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (statSync(file).isFile()) server.on('GET', `/${name}`, () => ({ body: readFileSync(file) }));
  }
  return server;
}
