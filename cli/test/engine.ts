// Helpers for the CLI's tests against the real engine (scripts/engine.sh up): run the bundled CLI (dist/cli after
// npm test's dist check, else a fresh build: test/support/bundles.ts) and docker as a user would, read manifests
// from the plain registry on 127.0.0.1:5000.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { bundlePath } from '../../test/support/bundles';

export const root = resolve(import.meta.dirname, '../..');
/** The CLI bundle to run, built on first use when dist is not the checked one. */
export function bundle(): string {
  return bundlePath('cli');
}
export const projects = resolve(root, 'examples/projects');
export const PLAIN_REGISTRY = '127.0.0.1:5000';

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function exec(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd ?? root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
    // A child that exits without reading its input closes the pipe first (EPIPE): its exit code tells what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** `depot ...` through the bundle, with plain progress so steps (CACHED, importing cache) can be read. */
export function depot(args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Result> {
  const base: NodeJS.ProcessEnv = { ...process.env, BUILDKIT_PROGRESS: 'plain' };
  delete base.DEPOT_TOKEN;
  delete base.DEPOT_PROJECT_ID;
  return exec(process.execPath, [bundle(), ...args], { env: { ...base, ...env }, ...(cwd ? { cwd } : {}) });
}

export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** The platforms of a manifest list in a registry, as `os/arch`, attestation manifests left out. */
export async function platformsOf(ref: string, env?: NodeJS.ProcessEnv): Promise<string[]> {
  const r = await exec('docker', ['buildx', 'imagetools', 'inspect', '--raw', ref], env ? { env } : {});
  if (r.code !== 0) throw new Error(`imagetools inspect ${ref} failed: ${r.stderr}`);
  const index = JSON.parse(r.stdout) as {
    manifests?: Array<{ platform?: { os: string; architecture: string } }>;
  };
  return (index.manifests ?? [])
    .map((m) => m.platform)
    .filter((p): p is { os: string; architecture: string } => !!p && p.os !== 'unknown')
    .map((p) => `${p.os}/${p.architecture}`)
    .sort();
}

/** The digest of what a tag points at. */
export async function digestOf(ref: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await exec(
    'docker',
    ['buildx', 'imagetools', 'inspect', ref, '--format', '{{json .Manifest}}'],
    env ? { env } : {},
  );
  if (r.code !== 0) throw new Error(`imagetools inspect ${ref} failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { digest: string }).digest;
}

/** The build steps (`[2/5] RUN ...`) that buildx's plain progress reported as CACHED. */
export function cachedSteps(out: string): string[] {
  const names = new Map<string, string>();
  const cached: string[] = [];
  for (const line of out.split('\n')) {
    const named = /^#(\d+) (\[.*)$/.exec(line);
    if (named?.[1] && named[2] && !names.has(named[1])) names.set(named[1], named[2]);
    const hit = /^#(\d+) CACHED$/.exec(line);
    if (hit?.[1] && names.get(hit[1])) cached.push(names.get(hit[1]) as string);
  }
  return cached.filter((s) => /\] RUN /.test(s));
}
