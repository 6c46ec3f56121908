// Reading what `docker buildx version` and `docker buildx inspect` print. Only the parsers live here (semver,
// nothing else), so the CLI shares them without bundling shared/buildx.ts's action-side probe and gates.
import semver from 'semver';

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
