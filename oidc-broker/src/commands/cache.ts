// `broker cache usage|prune|reset`: the cache registry's project caches, kept within `cache:` limits (issue 26).
import { ConfigError } from '../errors';
import type { Settings } from '../settings';

export async function cacheCommand(s: Settings): Promise<void> {
  void s;
  throw new ConfigError('cache is not available yet');
}
