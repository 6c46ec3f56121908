// `broker backup`, `broker restore` and `broker rotate-key-secret`: the state's care (issue 25).
import { ConfigError } from '../errors';
import type { Settings } from '../settings';

export async function backupCommand(s: Settings): Promise<void> {
  void s;
  throw new ConfigError('backup is not available yet');
}

export async function restoreCommand(s: Settings): Promise<void> {
  void s;
  throw new ConfigError('restore is not available yet');
}

export async function rotateKeySecretCommand(s: Settings): Promise<void> {
  void s;
  throw new ConfigError('rotate-key-secret is not available yet');
}
