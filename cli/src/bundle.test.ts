// The CLI bundle carries no code it never runs: esbuild's metafile of cli/src/main.ts (every module a bundler pulls
// in from the entry) holds no action-side module, neither shared/buildx.ts (the actions' buildx probe and input
// gates) nor @actions/* other than @actions/http-client (the proxy dispatcher of the one exchange client,
// shared/contract/exchange-client.ts). The CLI reads buildx's version through shared/buildx-version.ts and runs
// processes through shared/exec.ts.
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

async function graph(): Promise<{ files: string[]; packages: string[] }> {
  const result = await build({
    entryPoints: ['cli/src/main.ts'],
    absWorkingDir: root,
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  const inputs = Object.entries(result.metafile.inputs);
  const packages = inputs.flatMap(([, input]) =>
    input.imports.filter((i) => i.external && !i.path.startsWith('node:')).map((i) => i.path),
  );
  return { files: inputs.map(([file]) => file).sort(), packages: [...new Set(packages)].sort() };
}

describe('the CLI bundle graph', () => {
  it('has the version parser, the one process runner and the one exchange client, and nothing of the actions', async () => {
    const { files, packages } = await graph();
    expect(files).toContain('cli/src/main.ts');
    expect(files).toContain('shared/buildx-version.ts');
    expect(files).toContain('shared/exec.ts');
    expect(files).not.toContain('shared/buildx.ts');
    expect(files).toContain('shared/contract/exchange-client.ts');
    expect(files).not.toContain('shared/token.ts');
    expect(files).not.toContain('shared/broker-http.ts');
    expect(files.filter((f) => !/^(cli\/src|shared)\/|^package\.json$/.test(f))).toEqual([]);
    expect(packages.filter((p) => p.startsWith('@actions/'))).toEqual(['@actions/http-client']);
  });
});
