import { defineConfig } from 'vitest/config';

// Tests against the real engine: Docker Engine + buildx, the local registries, the real broker, the bundles run
// as the GitHub runner runs them. One worker: they share one dockerd and one set of registries.
export default defineConfig({
  test: {
    // A fresh build of the bundles the tests run, unless `npm test` has just checked dist/ (test/support/bundles.ts).
    globalSetup: ['test/support/tmpdir-setup.ts', 'test/support/bundles-setup.ts'],
    include: ['**/*.engine.test.ts', 'test/e2e/**/*.e2e.test.ts'],
    exclude: ['**/node_modules/**'],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
