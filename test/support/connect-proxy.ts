// An HTTPS_PROXY on loopback that records each CONNECT it is asked for and refuses it (502): enough to prove which
// host a client routes through the proxy, with no tunnel to set up.
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ConnectProxy {
  url: string;
  /** `host:port` of every CONNECT, in order. */
  connects: string[];
  server: Server;
}

export async function startConnectProxy(): Promise<ConnectProxy> {
  const connects: string[] = [];
  const server = createServer();
  server.on('connect', (q: IncomingMessage, socket) => {
    connects.push(q.url ?? '');
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connects, server };
}
