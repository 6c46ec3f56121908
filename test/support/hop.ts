// A TCP hop in front of one broker instance, as a network path between a proxy and its upstream: it passes HTTP/1.1
// requests through (keep-alive connections too, one request at a time as a proxy sends them) and can cut the next
// OIDC exchange (POST /auth/oidc/...) after the instance answered: the request reached the broker, which spent the
// token and minted, and the answer never comes back (the connection is reset). `down()` makes the port refuse
// connections as a dead instance's does; `up()` listens again on the same port.
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/** Shared by the hops of one test: how many exchanges to cut still, and what was cut. */
export class CutSwitch {
  armed = 0;
  readonly cuts: Array<{ hop: string; path: string; body: string }> = [];
}

export interface Hop {
  name: string;
  port: number;
  /** `METHOD PATH` of every request passed, in order. */
  requests: string[];
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

const HEAD_END = Buffer.from('\r\n\r\n');

export async function startHop(name: string, targetPort: number, cut: CutSwitch): Promise<Hop> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  let server: Server | undefined;
  let port = 0;

  const onConnection = (client: Socket) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('error', () => undefined);
    // The instance is gone (killed): the connection is reset, as the kernel would for a port nobody listens on.
    upstream.on('error', () => client.resetAndDestroy());
    let pending = Buffer.alloc(0);
    let cutting = false;
    let passthrough = false;
    upstream.on('data', (d: Buffer) => {
      if (cutting) {
        // The broker answered (its token spent, a project token minted): drop the answer and the connection.
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    client.on('data', (d: Buffer) => {
      if (passthrough) {
        upstream.write(d);
        return;
      }
      pending = Buffer.concat([pending, d]);
      for (;;) {
        const end = pending.indexOf(HEAD_END);
        if (end < 0) return;
        const head = pending.subarray(0, end).toString('latin1');
        const [requestLine = '', ...headers] = head.split('\r\n');
        const field = (n: string) =>
          headers
            .find((h) => h.toLowerCase().startsWith(`${n}:`))
            ?.slice(n.length + 1)
            .trim();
        if (field('transfer-encoding') !== undefined) {
          // A chunked body (nginx buffers request bodies and sends a Content-Length): no parsing, no cutting.
          passthrough = true;
          upstream.write(pending);
          pending = Buffer.alloc(0);
          return;
        }
        const total = end + HEAD_END.length + Number(field('content-length') ?? 0);
        if (pending.length < total) return;
        const request = pending.subarray(0, total);
        pending = pending.subarray(total);
        const [method = '', path = ''] = requestLine.split(' ');
        requests.push(`${method} ${path}`);
        if (method === 'POST' && path.startsWith('/auth/oidc/') && cut.armed > 0) {
          cut.armed--;
          cutting = true;
          cut.cuts.push({ hop: name, path, body: request.subarray(end + HEAD_END.length).toString('utf8') });
        }
        upstream.write(request);
      }
    });
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(onConnection);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        const addr = s.address();
        port = typeof addr === 'object' && addr ? addr.port : port;
        server = s;
        resolve();
      });
    });
  const down = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.resetAndDestroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    name,
    get port() {
      return port;
    },
    requests,
    down,
    up: listen,
    close: down,
  };
}
