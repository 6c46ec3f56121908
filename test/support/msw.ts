// msw for the unit tests of action code: a server that fails on any request no handler answers, listening for the
// test file's lifetime with its handlers reset after each test. @actions/http-client imports node:http as an ES
// module, so its namespace is re-synced to see msw's patched request().
import { syncBuiltinESMExports } from 'node:module';
import { setupServer } from 'msw/node';
import type { SetupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll } from 'vitest';

export function useMswServer(): SetupServer {
  const server = setupServer();
  beforeAll(() => {
    server.listen({ onUnhandledRequest: 'error' });
    syncBuiltinESMExports();
  });
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  return server;
}
