// The CLI release (`npm run release:cli`, which bundles the CLI from the sources) for tests that install it: built
// once per CLI bundle and version into .tmp/test-release/<key>/, then copied into the folder each test serves (tests
// may tamper with their copy). The key hashes the CLI bundle the tests run (bundles.ts: dist/cli when checked, else
// a fresh build), so a release cached before a source change is never reused after it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bundlePath } from './bundles';
import { ROOT } from './runner';

export function releaseInto(dir: string): void {
  const key = createHash('sha256')
    .update(readFileSync(bundlePath('cli')))
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
