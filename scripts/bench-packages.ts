// The bench's npm-style package registry on loopback: each folder of examples/bench/native/packages (with its
// package.json) packed as `<name>/-/<name>-<version>.tgz`, the way npm lays out a registry, and its metadata at
// `/<name>`. The tarballs are byte-for-byte the same every run (sorted, mtime 0, root-owned, gzip without a name or
// time), so BuildKit's cache keys for them do not change between bench runs. Served on 127.0.0.1:5099 when that
// port is free (the URL is part of the Dockerfile's ADD, so a fixed one keeps warm builds warm), else on any port.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PackageRegistry {
  url: string;
  /** Requests served, by path. */
  requests: string[];
  close(): Promise<void>;
}

interface Packed {
  name: string;
  version: string;
  tarball: Buffer;
}

function pack(dir: string): Packed {
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const work = mkdtempSync(join(tmpdir(), 'bench-pack-'));
  try {
    cpSync(dir, join(work, 'package'), { recursive: true });
    const tar = execFileSync('tar', [
      '-C',
      work,
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-cf',
      '-',
      'package',
    ]);
    const tarball = execFileSync('gzip', ['-n', '-9'], { input: tar });
    return { name: meta.name, version: meta.version, tarball };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function servePackages(root: string, port = 5099): Promise<PackageRegistry> {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(root).sort()) {
    const p = pack(join(root, name));
    const file = `${p.name}-${p.version}.tgz`;
    const tarballPath = `/${p.name}/-/${file}`;
    files.set(tarballPath, { body: p.tarball, type: 'application/octet-stream' });
    const integrity = `sha512-${createHash('sha512').update(p.tarball).digest('base64')}`;
    const doc = {
      name: p.name,
      'dist-tags': { latest: p.version },
      versions: {
        [p.version]: { name: p.name, version: p.version, dist: { tarball: tarballPath, integrity } },
      },
    };
    files.set(`/${p.name}`, { body: Buffer.from(JSON.stringify(doc)), type: 'application/json' });
  }
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const f = files.get(path);
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length });
    res.end(req.method === 'HEAD' ? undefined : f.body);
  });
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen(port);
  } catch {
    await listen(0);
  }
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
