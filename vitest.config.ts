import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Unit tests: fast, in-process, beside the code. End-to-end tests live in test/e2e (vitest.e2e.config.ts).
export default defineConfig({
  plugins: [
    {
      // @actions/workflow-parser ships source maps naming sources it does not ship, and vite warns once per file
      // (67 lines a run, hiding the warnings that matter): load its files without their sourceMappingURL comment.
      name: 'workflow-parser-without-source-maps',
      enforce: 'pre',
      load(id) {
        const file = id.split('?')[0] ?? id;
        if (!file.includes('/node_modules/@actions/workflow-parser/') || !file.endsWith('.js')) return null;
        return { code: readFileSync(file, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, ''), map: null };
      },
    },
  ],
  test: {
    // A fresh build of the bundles the tests run, unless `npm test` has just checked dist/ (test/support/bundles.ts).
    globalSetup: ['test/support/tmpdir-setup.ts', 'test/support/bundles-setup.ts'],
    include: ['{actions,shared,cli,oidc-broker,scripts,test}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/e2e/**', '**/*.e2e.test.ts', '**/*.engine.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // @actions/workflow-parser imports its JSON schema without an import attribute, which Node refuses: let vite
    // load it (scripts/workflow-checks.ts).
    server: { deps: { inline: ['@actions/workflow-parser'] } },
  },
});
