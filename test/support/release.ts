// The CLI release (`npm run release:cli`) for tests that install it: built once per bundle and version into
// .tmp/test-release/<key>/, then copied into the folder each test serves (tests may tamper with their copy).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './runner';

export function releaseInto(dir: string): void {
  const key = createHash('sha256')
    .update(readFileSync(join(ROOT, 'dist', 'cli', 'index.js')))
    .update(readFileSync(join(ROOT, 'package.json')))
    .digest('hex')
    .slice(0, 16);
  const cached = join(ROOT, '.tmp', 'test-release', key);
  if (!existsSync(join(cached, 'manifest.json'))) {
    rmSync(cached, { recursive: true, force: true });
    execFileSync('npm', ['run', '--silent', 'release:cli', '--', '--out', cached], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  }
  cpSync(cached, dir, { recursive: true });
}
