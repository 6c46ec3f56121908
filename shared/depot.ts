// Running `depot build|bake`, and plain `docker buildx` when `buildx-fallback` allows it: the CLI is missing and
// cannot be installed, the broker cannot be used, or the CLI exits 69 (it could not reach the broker or cache
// registry). Never after a failed build. A CLI missing from PATH is installed first (install-cli.ts, loaded only
// then), so build-push and bake need no setup step.
import { delimiter, join } from 'node:path';
import * as core from '@actions/core';
import { EXIT_UNAVAILABLE } from './contract/cli';
import { errorMessage, UserError } from './errors';
import { CommandNotFound, exec as defaultExec } from './exec';
import type { ExecOptions, ExecResult } from './exec';
import { actionRef } from './identity';
import type { CliInstallRequest } from './types/cli-release';
import type { TokenResolution } from './types/token';

export interface DepotRun {
  command: 'build' | 'bake';
  /** Flags plain buildx understands too. */
  buildxArgs: string[];
  /** Flags only depot understands (dropped in a fallback, with a warning naming them). */
  depotArgs: string[];
  /** The context (build) or source and targets (bake), last on the command line. */
  positional: string[];
  resolution: TokenResolution;
  /** `--project` for the CLI when a project is known. */
  project?: string;
  buildxFallback: boolean;
  /** Where the command runs (bake's `workdir`). */
  cwd?: string;
  /** Extra env for the child (e.g. BUILDX_BAKE_GIT_AUTH_TOKEN). */
  env?: Record<string, string>;
  /** How to install the CLI when it is not on PATH (the `version` and `manifest-url` inputs); else it is an error. */
  install?: CliInstallRequest;
}

export interface DepotResult {
  via: 'depot' | 'buildx';
  exitCode: number;
}

export type Exec = (command: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult>;

/** Installs the CLI and adds it to PATH; resolves to the directory holding `depot`. */
export type InstallCli = (req: CliInstallRequest) => Promise<{ version: string; bin: string }>;

/** The installer, loaded only when the CLI is missing: ncc puts it (and @actions/tool-cache) in a chunk of its own. */
const installFromManifest: InstallCli = async (req) => (await import('./install-cli')).installCli(req);

export class DepotCli {
  constructor(
    private readonly deps: {
      exec?: Exec;
      env?: NodeJS.ProcessEnv;
      depot?: string;
      docker?: string;
      installCli?: InstallCli;
    } = {},
  ) {}

  async run(req: DepotRun): Promise<DepotResult> {
    if (req.resolution.kind === 'fallback') {
      core.warning(`Building with plain docker buildx (buildx-fallback): ${req.resolution.reason}.`);
      return this.buildx(req);
    }
    const args = [req.command, ...req.buildxArgs, ...req.depotArgs];
    if (req.project) args.push('--project', req.project);
    args.push(...req.positional);
    const env = this.childEnv(req);
    if (req.resolution.kind === 'token') env.DEPOT_TOKEN = req.resolution.token;
    else core.warning(`No project cache for this build: ${req.resolution.reason}.`);
    // Secrets reach the CLI through files and env only, never argv, so the command line can be shown as is.
    core.info(`depot ${args.join(' ')}`);
    const cwd = req.cwd ? { cwd: req.cwd } : {};
    let res: ExecResult;
    try {
      res = await this.exec(this.deps.depot ?? 'depot', args, { env, ...cwd });
    } catch (err: unknown) {
      if (!(err instanceof CommandNotFound)) throw err;
      const bin = await this.installMissing(req);
      if (bin === undefined) return this.buildx(req);
      const depot = join(bin, 'depot');
      try {
        res = await this.exec(depot, args, {
          env: { ...env, PATH: `${bin}${delimiter}${env.PATH ?? ''}` },
          ...cwd,
        });
      } catch (again: unknown) {
        if (again instanceof CommandNotFound) {
          throw new UserError(`${depot} cannot be run: the depot CLI just installed is broken.`);
        }
        throw again;
      }
    }
    if (res.exitCode === EXIT_UNAVAILABLE && req.buildxFallback) {
      core.warning(
        `depot could not reach the broker or the cache registry (exit ${EXIT_UNAVAILABLE}): building with plain docker buildx (buildx-fallback).`,
      );
      return this.buildx(req);
    }
    if (res.exitCode !== 0) {
      throw new UserError(
        `depot ${req.command} failed with: ${res.lastStderrLine || `exit code ${res.exitCode}`}`,
      );
    }
    return { via: 'depot', exitCode: 0 };
  }

  /**
   * The CLI is not on PATH: install it (the bin directory), or with buildx-fallback say why plain buildx builds
   * (undefined); else fail in one line.
   */
  private async installMissing(req: DepotRun): Promise<string | undefined> {
    if (!req.install) {
      if (req.buildxFallback) {
        core.warning('The depot CLI is not installed: building with plain docker buildx (buildx-fallback).');
        return undefined;
      }
      throw new UserError(
        `depot CLI not found. Add \`uses: ${actionRef('setup')}\` before this step, or set \`buildx-fallback: true\`.`,
      );
    }
    try {
      return (await (this.deps.installCli ?? installFromManifest)(req.install)).bin;
    } catch (err: unknown) {
      const why = errorMessage(err);
      if (req.buildxFallback) {
        core.warning(
          `The depot CLI is not on PATH and could not be installed (${why}): building with plain docker buildx (buildx-fallback).`,
        );
        return undefined;
      }
      throw new UserError(`The depot CLI is not on PATH and could not be installed: ${why}`);
    }
  }

  private async buildx(req: DepotRun): Promise<DepotResult> {
    if (req.depotArgs.length > 0) {
      const dropped = req.depotArgs.filter((a) => a.startsWith('--'));
      core.warning(`Plain buildx does not know ${dropped.join(', ')}: they are left out of this build.`);
    }
    const args = ['buildx', req.command, ...req.buildxArgs, ...req.positional];
    const env = this.childEnv(req);
    core.info(`docker ${args.join(' ')}`);
    let res: ExecResult;
    try {
      res = await this.exec(this.deps.docker ?? 'docker', args, {
        env,
        ...(req.cwd ? { cwd: req.cwd } : {}),
      });
    } catch (err: unknown) {
      if (err instanceof CommandNotFound) {
        throw new UserError(
          'Neither the depot CLI nor docker is installed: add the setup action before this step.',
        );
      }
      throw err;
    }
    if (res.exitCode !== 0) {
      throw new UserError(
        `docker buildx ${req.command} failed with: ${res.lastStderrLine || `exit code ${res.exitCode}`}`,
      );
    }
    return { via: 'buildx', exitCode: 0 };
  }

  /** The child's env: ours plus the run's extras, with no DEPOT_TOKEN but the one resolved for this build. */
  private childEnv(req: DepotRun): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...(this.deps.env ?? process.env), ...(req.env ?? {}) };
    delete env.DEPOT_TOKEN;
    return env;
  }

  private exec(command: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    return (this.deps.exec ?? defaultExec)(command, args, opts);
  }
}
