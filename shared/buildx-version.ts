// Reading what `docker buildx version` and `docker buildx inspect` print. Only the parsers live here (semver,
// nothing else), so the CLI shares them without bundling shared/buildx.ts's action-side probe and gates.
import semver from 'semver';
import type { ImageStore } from './contract/docker-facts';

/**
 * `github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4` -> 0.29.1; `github.com/docker/buildx v0.13.1 abc` -> 0.13.1.
 * A version we cannot read (or a dev build's 0.0.0) is undefined: callers treat it as current.
 */
export function parseBuildxVersion(output: string): string | undefined {
  const m = /buildx\S*\s+v?(\S+)/.exec(output.trim());
  const v = semver.coerce(m?.[1] ?? output);
  return v && v.version !== '0.0.0' ? v.version : undefined;
}

/** What `docker buildx inspect [NAME]` says about a builder: its driver and each node's BuildKit version. */
export interface BuilderInfo {
  name?: string;
  driver?: string;
  nodes: Array<{ name?: string; endpoint?: string; buildkit?: string }>;
}

/**
 * Reads `docker buildx inspect`'s text: the builder's `Name` and `Driver`, then per node its `Name`, `Endpoint` and
 * `BuildKit version` (`Buildkit` before buildx 0.12). Other lines are skipped.
 */
export function parseBuilderInspect(stdout: string): BuilderInfo {
  const info: BuilderInfo = { nodes: [] };
  let inNodes = false;
  for (const line of stdout.split(/\r?\n/)) {
    // Indented lines (labels, GC policy rules, devices) belong to a section we do not read.
    if (line === '' || /^\s/.test(line)) continue;
    const at = line.indexOf(':');
    if (at < 0) continue;
    const key = line.slice(0, at).trim().toLowerCase();
    const value = line.slice(at + 1).trim();
    if (key === 'nodes') inNodes = true;
    else if (key === 'name') {
      if (!inNodes) info.name = value;
      else info.nodes.push({ name: value });
    } else if (key === 'driver' && !inNodes) info.driver = value;
    else if (key === 'endpoint' && inNodes) {
      const node = info.nodes.at(-1);
      if (node && value) node.endpoint = value;
    } else if ((key === 'buildkit version' || key === 'buildkit') && inNodes) {
      const node = info.nodes.at(-1);
      if (node && value) node.buildkit = value;
    }
  }
  return info;
}

/** The snapshotter DriverStatus names when dockerd uses the containerd image store. */
export const CONTAINERD_SNAPSHOTTER = 'io.containerd.snapshotter.v1';

/** `{{.Driver}}`, a tab, then `{{json .DriverStatus}}`. */
export const INFO_FORMAT = '{{.Driver}}\t{{json .DriverStatus}}';

/** The image store from `docker info --format INFO_FORMAT`; undefined when the output cannot be read. */
export function parseImageStore(stdout: string): ImageStore | undefined {
  const line = stdout.trim();
  const tab = line.indexOf('\t');
  if (tab < 0) return undefined;
  let status: unknown;
  try {
    status = JSON.parse(line.slice(tab + 1));
  } catch {
    return undefined;
  }
  if (status !== null && !Array.isArray(status)) return undefined;
  const pairs = (status ?? []) as unknown[];
  const containerd = pairs.some(
    (p) => Array.isArray(p) && p[0] === 'driver-type' && p[1] === CONTAINERD_SNAPSHOTTER,
  );
  return containerd ? 'containerd' : 'classic';
}

/**
 * The buildx plugin's version from `docker info --format '{{json .ClientInfo.Plugins}}'` (docker asks each CLI
 * plugin for its metadata): `{version, raw}` as `docker buildx version` would give, undefined when buildx is not
 * listed or its version cannot be read.
 */
export function parsePluginsBuildx(stdout: string): { version: string; raw: string } | undefined {
  let plugins: unknown;
  try {
    plugins = JSON.parse(stdout.trim());
  } catch {
    return undefined;
  }
  if (!Array.isArray(plugins)) return undefined;
  for (const p of plugins as unknown[]) {
    if (p === null || typeof p !== 'object') continue;
    const { Name, Version, Path } = p as Record<string, unknown>;
    if (Name !== 'buildx' || typeof Version !== 'string') continue;
    const version = parseBuildxVersion(`buildx ${Version}`);
    if (!version) return undefined;
    return { version, raw: `buildx ${Version}${typeof Path === 'string' ? ` (${Path})` : ''}` };
  }
  return undefined;
}
