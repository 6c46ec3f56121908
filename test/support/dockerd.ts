// A second Docker daemon beside the engine's (scripts/engine.sh), for tests that need a daemon configured
// otherwise: by default the classic image store, as GitHub's hosted runners have it (the engine's dockerd uses the
// containerd store). Everything it owns is its own: data root, exec root (so its own managed containerd), pid file,
// socket, containerd namespaces, a config file of its own (so /etc/docker/daemon.json, which turns the containerd
// store on, is not read) and a bridge of its own, made here (`ip link add`) on a free /24 and given with --bridge,
// with --iptables=false so the engine's NAT rules are left alone. Never `--bridge=none`: dockerd then deletes the
// host's docker0 (moby's removeDefaultBridgeInterface), the engine's bridge, and every RUN step on the engine fails
// with "adding interface ... to bridge docker0 failed: Device does not exist". Registries on 127.0.0.0/8 (the
// engine's 127.0.0.1:5000, the stack's localhost:<port>) are insecure-allowed by dockerd's default, as on the
// engine. Like scripts/engine.sh it needs root, and says so in one line without it. It is started and stopped by
// its pid only; the engine's dockerd keeps running.
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

export interface Dockerd {
  /** DOCKER_HOST for this daemon: unix://<its socket>. */
  host: string;
  socket: string;
  pid: number;
  dir: string;
  /** Its log so far. */
  log(): string;
  /** SIGTERM by pid, up to 30 s, then SIGKILL (and its containerd's pid); its directory removed. Idempotent. */
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** The image store: classic (default, as GitHub's runners) or containerd. */
  store?: 'classic' | 'containerd';
  /** How long to wait for its API (default 60 s). */
  timeoutMs?: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ping(socket: string): Promise<boolean> {
  return new Promise((done) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('error', () => done(false));
    req.on('timeout', () => {
      req.destroy();
      done(false);
    });
    req.end();
  });
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return true;
}

/** A /24 in 172.30.0.0/16 that no interface of this host uses yet. */
function freeSubnet(): number {
  const used = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  for (let i = 0; i < 64; i++) {
    const n = 1 + Math.floor(Math.random() * 254);
    if (!used.includes(` 172.30.${n}.`)) return n;
  }
  throw new Error("no free 172.30.N.0/24 for the second dockerd's bridge");
}

/** A bridge of its own (name at most 15 bytes), up, with the gateway address dockerd takes for its network. */
function addBridge(name: string): void {
  const n = freeSubnet();
  execFileSync('ip', ['link', 'add', name, 'type', 'bridge'], { stdio: 'pipe' });
  execFileSync('ip', ['addr', 'add', `172.30.${n}.1/24`, 'dev', name], { stdio: 'pipe' });
  execFileSync('ip', ['link', 'set', name, 'up'], { stdio: 'pipe' });
}

function deleteBridge(name: string): void {
  try {
    execFileSync('ip', ['link', 'delete', name, 'type', 'bridge'], { stdio: 'pipe' });
  } catch {
    // already gone
  }
}

/** Started daemons, stopped when this process exits if a test's afterAll never ran. */
const running = new Map<number, string>();
process.once('exit', () => {
  for (const [pid, bridge] of running) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
    deleteBridge(bridge);
  }
});

export async function startDockerd(opts: DockerdOptions = {}): Promise<Dockerd> {
  if (process.getuid?.() !== 0) {
    throw new Error('a second dockerd needs root, as scripts/engine.sh does: run the engine tests as root.');
  }
  // Under /tmp, not TMPDIR: a unix socket path must stay under 108 bytes.
  const dir = mkdtempSync('/tmp/depot-dockerd-');
  const socket = join(dir, 'docker.sock');
  const pidfile = join(dir, 'dockerd.pid');
  const logFile = join(dir, 'dockerd.log');
  const config = join(dir, 'daemon.json');
  const suffix = dir.slice(dir.lastIndexOf('-') + 1).toLowerCase();
  const ns = `depot-${suffix}`;
  const bridge = `depotbr-${suffix}`.slice(0, 15);
  mkdirSync(join(dir, 'data'));
  mkdirSync(join(dir, 'exec'));
  writeFileSync(
    config,
    `${JSON.stringify({ features: { 'containerd-snapshotter': opts.store === 'containerd' } })}\n`,
  );
  addBridge(bridge);
  const out = openSync(logFile, 'a');
  const child = spawn(
    'dockerd',
    [
      '--config-file',
      config,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      pidfile,
      '-H',
      `unix://${socket}`,
      `--bridge=${bridge}`,
      '--iptables=false',
      '--ip6tables=false',
      '--containerd-namespace',
      ns,
      '--containerd-plugins-namespace',
      `${ns}-plugins`,
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) {
    deleteBridge(bridge);
    rmSync(dir, { recursive: true, force: true });
    throw new Error('dockerd could not be started (is Docker Engine installed? scripts/engine.sh up).');
  }
  child.unref();
  running.set(pid, bridge);
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const containerdPidFile = join(dir, 'exec', 'containerd', 'containerd.pid');
    const containerd = existsSync(containerdPidFile)
      ? Number(readFileSync(containerdPidFile, 'utf8').trim())
      : undefined;
    if (alive(pid)) {
      process.kill(pid, 'SIGTERM');
      if (!(await waitGone(pid, 30_000))) process.kill(pid, 'SIGKILL');
      await waitGone(pid, 5_000);
    }
    // dockerd stops the containerd it started; only one left behind by a killed dockerd is ended here, by pid.
    if (containerd && alive(containerd)) {
      process.kill(containerd, 'SIGTERM');
      if (!(await waitGone(containerd, 10_000))) process.kill(containerd, 'SIGKILL');
    }
    running.delete(pid);
    deleteBridge(bridge);
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // a mount left by a killed daemon: the directory stays, named in no error (best effort)
    }
  };

  const until = Date.now() + (opts.timeoutMs ?? 60_000);
  while (!(await ping(socket))) {
    if (!alive(pid) || Date.now() > until) {
      const tail = log().trim().split('\n').slice(-5).join('\n');
      await stop();
      throw new Error(
        `the second dockerd did not start (${alive(pid) ? 'timed out' : 'it exited'}):\n${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { host: `unix://${socket}`, socket, pid, dir, log, stop };
}
