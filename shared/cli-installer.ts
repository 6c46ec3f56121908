// Installs the depot CLI into the runner's tool cache, in the order STYLE.md gives: an exact version already in the
// tool cache is used with no network at all; otherwise the release manifest picks the version and the build, the
// tarball is downloaded (@actions/tool-cache retries transient failures), its SHA-256 checked before anything is
// extracted, and the extracted tree cached (tool-cache writes its `.complete` marker last). actions/setup runs it,
// and build-push and bake through install-cli.ts when the CLI is not on PATH.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { describeVersionSpec } from './cli-release';
import { buildFor, parseManifest, redactUrl, resolveVersion } from './cli-manifest';
import type { Build, Manifest } from './cli-manifest';
import { errorMessage, UserError } from './errors';
import type { VersionSpec } from './types/cli-release';

/** The tool cache's name for the CLI: `$RUNNER_TOOL_CACHE/depot/<version>/<arch>/`. */
export const TOOL_NAME = 'depot';
/** The largest manifest we read; a bigger answer is not a manifest. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** @actions/tool-cache's downloadTool makes this many attempts on network errors, 5xx, 408 and 429. */
const DOWNLOAD_ATTEMPTS = 3;

export interface Installed {
  version: string;
  /** The tool-cache directory; the executable is `bin/depot` under it. */
  dir: string;
  /** `<dir>/bin`, the directory added to PATH. */
  bin: string;
  /** True when the tool cache already held this version (no tarball was downloaded). */
  fromCache: boolean;
}

export interface InstallerOptions {
  /** The manifest's build key, `<os>-<arch>`; default `${process.platform}-${process.arch}`. */
  platform?: string;
  /** The tool cache's arch folder; default process.arch. */
  arch?: string;
  env?: NodeJS.ProcessEnv;
  log?: { info(message: string): void; debug(message: string): void };
}

export class Installer {
  private readonly platform: string;
  private readonly arch: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: { info(message: string): void; debug(message: string): void };

  constructor(opts: InstallerOptions = {}) {
    this.arch = opts.arch ?? process.arch;
    this.platform = opts.platform ?? `${process.platform}-${this.arch}`;
    this.env = opts.env ?? process.env;
    this.log = opts.log ?? { info: core.info, debug: core.debug };
  }

  async install(spec: VersionSpec, manifestUrl: string): Promise<Installed> {
    this.requireRunnerDirs();
    // One version asked for (setup's exact pin, the build actions' own version) and cached: no network at all.
    if (spec.kind === 'exact' || spec.kind === 'preferred') {
      const hit = this.cached(spec.version);
      if (hit) return hit;
    }
    const manifest = await this.fetchManifest(manifestUrl);
    const version = resolveVersion(manifest, spec);
    if (spec.kind === 'preferred' && version !== spec.version) {
      this.log.info(
        `The manifest has no depot ${spec.version} (this action's version): using the latest, ${version}.`,
      );
    } else if (spec.kind === 'latest' || spec.kind === 'range') {
      this.log.info(`Resolved version "${describeVersionSpec(spec)}" to ${version}.`);
    }
    const hit = this.cached(version);
    if (hit) return hit;
    return this.downloadAndCache(version, buildFor(manifest, version, this.platform));
  }

  /** The version in the tool cache (complete installs only), or undefined. */
  cached(version: string): Installed | undefined {
    const dir = tc.find(TOOL_NAME, version, this.arch);
    if (!dir) {
      this.log.debug(`Installer.cached: ${version} ${this.arch} not in the tool cache`);
      return undefined;
    }
    this.log.info(`depot ${version} is in the tool cache: ${dir}`);
    return { version, dir, bin: join(dir, 'bin'), fromCache: true };
  }

  async fetchManifest(url: string): Promise<Manifest> {
    this.log.info(`Reading the release manifest ${redactUrl(url)}`);
    const file = join(this.tempDir(), `depot-manifest-${randomUUID()}.json`);
    try {
      try {
        await tc.downloadTool(url, file);
      } catch (err: unknown) {
        throw new UserError(
          `Cannot read the depot release manifest at ${redactUrl(url)}: ${failure(err)}. ` +
            'Check `manifest-url` (or DEPOT_MANIFEST_URL) and that the release exists.',
        );
      }
      if (statSync(file).size > MAX_MANIFEST_BYTES) {
        throw new UserError(
          `The release manifest at ${redactUrl(url)} is larger than ${MAX_MANIFEST_BYTES} bytes: it is not a depot manifest. Check \`manifest-url\`.`,
        );
      }
      return parseManifest(readFileSync(file, 'utf8'), url);
    } finally {
      rmSync(file, { force: true });
    }
  }

  private async downloadAndCache(version: string, build: Build): Promise<Installed> {
    const where = `depot ${version} (${this.platform})`;
    this.log.info(`Downloading ${where} from ${redactUrl(build.url)}`);
    const file = join(this.tempDir(), `depot-${version}-${randomUUID()}.tar.gz`);
    let extracted = '';
    try {
      try {
        await tc.downloadTool(build.url, file);
      } catch (err: unknown) {
        throw new UserError(`Cannot download ${where} from ${redactUrl(build.url)}: ${failure(err)}.`);
      }
      // Verify before extracting: a tampered or truncated tarball never reaches tar or the tool cache.
      const actual = await sha256(file);
      if (actual !== build.sha256) {
        throw new UserError(
          `Checksum mismatch for ${where} from ${redactUrl(build.url)}: the manifest says sha256 ${build.sha256}, ` +
            `the download has ${actual}. Nothing was installed; check the release or the mirror serving it.`,
        );
      }
      this.log.info(`SHA-256 verified: ${actual}`);
      try {
        extracted = await tc.extractTar(file);
      } catch (err: unknown) {
        throw new UserError(`Cannot extract ${where}: ${errorMessage(err)}. The release tarball is broken.`);
      }
      const root = toolRoot(extracted);
      if (!root) {
        throw new UserError(
          `The ${where} tarball has no bin/depot: it is not a depot release. Check the release or the manifest.`,
        );
      }
      const dir = await tc.cacheDir(root, TOOL_NAME, version, this.arch);
      this.log.info(`Installed ${where} into ${dir}`);
      return { version, dir, bin: join(dir, 'bin'), fromCache: false };
    } finally {
      rmSync(file, { force: true });
      if (extracted) rmSync(extracted, { recursive: true, force: true });
    }
  }

  private requireRunnerDirs(): void {
    for (const name of ['RUNNER_TOOL_CACHE', 'RUNNER_TEMP']) {
      if (!this.env[name]) {
        throw new UserError(
          `${name} is not set: run this action in a GitHub Actions job (the runner sets it).`,
        );
      }
    }
  }

  private tempDir(): string {
    return this.env.RUNNER_TEMP ?? '';
  }
}

/** The folder holding bin/depot: the tarball's root, or its single top-level folder. */
function toolRoot(extracted: string): string | undefined {
  if (existsSync(join(extracted, 'bin', 'depot'))) return extracted;
  const entries = readdirSync(extracted);
  const only = entries.length === 1 ? join(extracted, entries[0] ?? '') : '';
  if (only && statSync(only).isDirectory() && existsSync(join(only, 'bin', 'depot'))) return only;
  return undefined;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What went wrong with a download, on one line; transient failures say they were retried. */
function failure(err: unknown): string {
  if (err instanceof tc.HTTPError && err.httpStatusCode) {
    const code = err.httpStatusCode;
    const retried = code >= 500 || code === 408 || code === 429;
    return `HTTP ${code}${retried ? ` after ${DOWNLOAD_ATTEMPTS} tries` : ''}`;
  }
  return `${networkError(err)} (after ${DOWNLOAD_ATTEMPTS} tries)`;
}

/** Node reports a refused connection to a host with several addresses as an AggregateError with no message. */
function networkError(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') {
    const first: unknown = err.errors[0];
    if (first !== undefined) return networkError(first);
  }
  const code = (err as { code?: unknown } | null)?.code;
  const message = errorMessage(err);
  return message || (typeof code === 'string' ? code : 'network error');
}
