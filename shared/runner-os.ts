// The runners the suite supports: Linux only (the CLI release is built for linux-x64 and linux-arm64, and the
// builds need a local Docker Engine with BuildKit). Every action checks this first, so a macOS or Windows job fails
// in one line before anything runs.
import { UserError } from './errors';

/** RUNNER_OS as the runner sets it, else this process's platform, in the runner's words. */
export function runnerOs(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  const fromPlatform = PLATFORM_NAMES[platform] ?? platform;
  const declared = env.RUNNER_OS?.trim();
  // A runner that says Linux while the process runs elsewhere (or the reverse): the process is what matters.
  if (declared && declared !== 'Linux') return declared;
  return fromPlatform;
}

/** Fails in one line naming the runner when it is not Linux. */
export function requireLinuxRunner(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): void {
  const os = runnerOs(env, platform);
  if (os !== 'Linux') throw new UserError(`depot-ci actions run on Linux runners; this runner is ${os}.`);
}

const PLATFORM_NAMES: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'Linux',
  darwin: 'macOS',
  win32: 'Windows',
};
