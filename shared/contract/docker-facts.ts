// What build-push and bake already learned from docker before they run the CLI, handed to it in its env so it does
// not ask again: the buildx version (the CLI gates flags on it) and the builder's name, driver and, for the docker
// driver, the daemon's image store (the CLI's builder probe, cli/src/builder-probe.ts, decides `--cache-to` on it).
// Each `docker` call is a Go process or two, 100-300 ms on a busy runner; the CLI asked three. The CLI takes the
// builder's facts only for the builder it was asked to use (`asked`, the action's `builder` input, '' for buildx's
// choice), and anything it cannot read is ignored: it then asks docker itself, as without the action.

export const DOCKER_FACTS_ENV = 'DEPOT_DOCKER_FACTS';

export type ImageStore = 'containerd' | 'classic';

export interface DockerFacts {
  /** The installed buildx's version (semver), when it could be read. */
  buildx?: string;
  builder?: {
    /** The builder the action asked about: its `builder` input ('' for buildx's current builder). */
    asked: string;
    name: string;
    driver: string;
    /** The daemon's image store, for the docker driver on the default docker context only. */
    store?: ImageStore;
  };
}

export function encodeDockerFacts(facts: DockerFacts): string {
  return JSON.stringify(facts);
}

/** The facts in `env`, checked field by field; undefined when absent or unreadable. */
export function readDockerFacts(env: NodeJS.ProcessEnv): DockerFacts | undefined {
  const raw = env[DOCKER_FACTS_ENV];
  if (!raw) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const { buildx, builder } = json as Record<string, unknown>;
  const facts: DockerFacts = {};
  if (typeof buildx === 'string' && /^\d+\.\d+\.\d+/.test(buildx)) facts.buildx = buildx;
  if (builder !== null && typeof builder === 'object' && !Array.isArray(builder)) {
    const { asked, name, driver, store } = builder as Record<string, unknown>;
    if (
      typeof asked === 'string' &&
      typeof name === 'string' &&
      name &&
      typeof driver === 'string' &&
      driver
    ) {
      if (store === undefined || store === 'containerd' || store === 'classic') {
        facts.builder = { asked, name, driver, ...(store ? { store } : {}) };
      }
    }
  }
  return facts;
}
