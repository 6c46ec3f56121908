import { defineConfig } from 'vitest/config';

// Unit tests: fast, in-process, beside the code. End-to-end tests live in test/e2e (vitest.e2e.config.ts).
export default defineConfig({
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
