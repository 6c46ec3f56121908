// `npm run release:cli` for real: tarballs that run with no Node on the machine (the arm64 one
// checked by its ELF header), checksums that match, and a manifest that merges the previous one.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pkg from '../../package.json';
import { exec, root } from './engine';

describe('npm run release:cli', () => {
  it('writes runnable tarballs for linux-x64 and linux-arm64, SHA256SUMS and a merged manifest', async () => {
    const out = mkdtempSync(join(tmpdir(), 'depot-release-out-'));
    const previous = join(out, 'previous.json');
    const old = { url: 'https://example.test/v0.0.1/depot-0.0.1-linux-x64.tar.gz', sha256: 'b'.repeat(64) };
    writeFileSync(previous, JSON.stringify({ latest: '0.0.1', versions: { '0.0.1': { 'linux-x64': old } } }));
    const base = `https://github.com/depot-suite/depot-ci/releases/download/v${pkg.version}/`;
    const r = await exec('npm', [
      'run',
      '--silent',
      'release:cli',
      '--',
      '--out',
      out,
      '--previous',
      previous,
      '--base-url',
      base,
    ]);
    expect(r.code, r.stderr).toBe(0);

    const v = pkg.version;
    const files = [`depot-${v}-linux-x64.tar.gz`, `depot-${v}-linux-arm64.tar.gz`];
    const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8').trim().split('\n');
    expect(sums.map((l) => l.split(/\s+/)[1])).toEqual(files);
    for (const line of sums) {
      const [sum, file] = line.split(/\s+/) as [string, string];
      expect(
        createHash('sha256')
          .update(readFileSync(join(out, file)))
          .digest('hex'),
      ).toBe(sum);
    }
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      latest: string;
      versions: Record<string, Record<string, { url: string; sha256: string }>>;
    };
    expect(manifest.latest).toBe(v);
    expect(manifest.versions['0.0.1']?.['linux-x64']).toEqual(old);
    expect(manifest.versions[v]?.['linux-arm64']?.url).toBe(`${base}depot-${v}-linux-arm64.tar.gz`);
    expect(manifest.versions[v]?.['linux-x64']?.sha256).toBe(sums[0]?.split(/\s+/)[0]);

    for (const arch of ['x64', 'arm64']) {
      const dir = join(out, `x-${arch}`);
      mkdirSync(dir);
      expect(
        (await exec('tar', ['-xzf', join(out, `depot-${v}-linux-${arch}.tar.gz`), '-C', dir])).code,
      ).toBe(0);
      const elf = readFileSync(join(dir, `depot-${v}-linux-${arch}`, 'libexec', 'node'))
        .subarray(18, 20)
        .readUInt16LE();
      expect(elf).toBe(arch === 'x64' ? 0x3e : 0xb7);
      expect(readFileSync(join(dir, `depot-${v}-linux-${arch}`, 'lib', 'index.js'), 'utf8')).toContain(
        pkg.version,
      );
    }
    // No node on PATH: the launcher (through a symlink, as a tool-cache PATH entry may be) uses the Node it ships.
    // (The arm64 Node needs an arm64 glibc, which this amd64 machine does not have: its ELF header is checked above.)
    const launcher = join(out, 'x-x64', `depot-${v}-linux-x64`, 'bin', 'depot');
    mkdirSync(join(out, 'path'));
    symlinkSync(launcher, join(out, 'path', 'depot'));
    const run = await exec(join(out, 'path', 'depot'), ['version'], {
      env: { PATH: '/usr/bin:/bin' },
      cwd: root,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(`depot ${v}`);
  });
});
