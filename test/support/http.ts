// One HTTP request from a chosen local address (a loopback address of 127.0.0.0/8, or ::1): how the broker's tests
// stand for many clients, each seen by its own address, on a fresh connection each time.
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestFrom {
  method?: string;
  /** The address the connection comes from (default: the system's choice). */
  localAddress?: string | undefined;
  headers?: Record<string, string> | undefined;
  /** Sent as JSON (content-type application/json unless `headers` say otherwise). */
  body?: string | undefined;
}

export function requestFrom(url: string | URL, opts: RequestFrom = {}): Promise<Reply> {
  const { body } = opts;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? 'GET',
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        agent: false,
        headers: {
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
          ...opts.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
