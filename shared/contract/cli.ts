// What the actions and the depot CLI agree on: the exit status the actions' buildx-fallback keys on, and the values
// of the depot-only flags the actions pass (`--build-platform`, `--lint-fail-on`).

/** EX_UNAVAILABLE (sysexits.h): the CLI could not reach the broker or the cache registry before the build started. */
export const EXIT_UNAVAILABLE = 69;

/** `--lint-fail-on` / input `lint-fail-on`: the lowest lint level that fails the build. */
export const LINT_LEVELS = ['error', 'warn', 'info', 'none'] as const;
export type LintFailOn = (typeof LINT_LEVELS)[number];

/** `--build-platform` / input `build-platform`: where the builder runs (dynamic: per target platform). */
export const BUILD_PLATFORMS = ['dynamic', 'linux/amd64', 'linux/arm64'] as const;
export type BuildPlatform = (typeof BUILD_PLATFORMS)[number];
