// build-push and bake without a setup step: the depot CLI is not on PATH, so the step installs it through setup's
// installer (the same manifest resolution, SHA-256 check and tool cache), says so in one line, and adds it to PATH
// for this step and the job's later ones. This module (and @actions/tool-cache with it) is loaded with a dynamic
// import only on that path (shared/depot.ts), so steps that find the CLI start no slower.
import * as core from '@actions/core';
import { Installer } from './cli-installer';
import type { Installed, InstallerOptions } from './cli-installer';
import { redactUrl } from './cli-manifest';
import { describeVersionSpec } from './cli-release';
import type { CliInstallRequest } from './types/cli-release';

export async function installCli(req: CliInstallRequest, opts: InstallerOptions = {}): Promise<Installed> {
  core.info(
    `depot CLI not on PATH: installing ${describeVersionSpec(req.version)} from ${redactUrl(req.manifestUrl)} (no setup step needed)`,
  );
  return core.group('Install depot', async () => {
    const installed = await new Installer(opts).install(req.version, req.manifestUrl);
    core.addPath(installed.bin);
    core.info(`Added ${installed.bin} to PATH for this step and the job's later steps.`);
    return installed;
  });
}
