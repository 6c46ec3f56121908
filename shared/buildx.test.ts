import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildPlatformNote,
  buildkitSatisfies,
  inspectBuilder,
  parseBuilderInspect,
  supportsOrWarn,
} from './buildx';

// `docker buildx inspect` on this repository's engine (buildx 0.29.1, the docker driver of a Debian dockerd).
const ENGINE = `Name:          default
Driver:        docker
Last Activity: 2026-11-30 22:38:04 +0000 UTC

Nodes:
Name:             default
Endpoint:         default
Status:           running
BuildKit version: v0.0.0+unknown
Platforms:        linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/amd64/v4, linux/arm64
Labels:
 org.mobyproject.buildkit.worker.containerd.namespace: moby
 org.mobyproject.buildkit.worker.executor:             containerd
GC Policy rule#0:
 All:            false
 Filters:        type==source.local,type==exec.cachemount,type==source.git.checkout
 Keep Duration:  48h0m0s
`;

// buildx before 0.12 printed `Buildkit:`; a docker-container builder.
const OLD_FORMAT = `Name:   builder-1
Driver: docker-container

Nodes:
Name:      builder-10
Endpoint:  unix:///var/run/docker.sock
Status:    running
Flags:     --allow-insecure-entitlement security.insecure
Buildkit:  v0.10.4
Platforms: linux/amd64, linux/arm64
`;

describe('parseBuilderInspect', () => {
  it('reads the builder, its driver and each node with its BuildKit version', () => {
    expect(parseBuilderInspect(ENGINE)).toEqual({
      name: 'default',
      driver: 'docker',
      nodes: [{ name: 'default', endpoint: 'default', buildkit: 'v0.0.0+unknown' }],
    });
    expect(parseBuilderInspect(OLD_FORMAT)).toEqual({
      name: 'builder-1',
      driver: 'docker-container',
      nodes: [{ name: 'builder-10', endpoint: 'unix:///var/run/docker.sock', buildkit: 'v0.10.4' }],
    });
  });

  it('a node that reports no version has none (a remote builder that is down)', () => {
    const info = parseBuilderInspect(
      'Name: r\nDriver: remote\n\nNodes:\nName: n0\nEndpoint: tcp://x\nStatus: inactive\n',
    );
    expect(info.nodes).toEqual([{ name: 'n0', endpoint: 'tcp://x' }]);
    expect(buildkitSatisfies(info, '>=0.11.0')).toBe(false);
  });

  it('on the engine here (docker driver, Debian BuildKit v0.0.0+unknown) default provenance is off, as with docker', () => {
    expect(buildkitSatisfies(parseBuilderInspect(ENGINE), '>=0.11.0')).toBe(false);
  });
});

describe('inspectBuilder runs `docker buildx inspect [builder]`', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inspect-'));
  const stub = (name: string, script: string): string => {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${script}\n`);
    chmodSync(file, 0o755);
    return file;
  };

  it('parses its output, naming the builder when one is given', async () => {
    const docker = stub('ok', `echo "$@" > ${dir}/args\ncat <<'OUT'\n${OLD_FORMAT}OUT`);
    expect(await inspectBuilder('builder-1', { docker })).toEqual(parseBuilderInspect(OLD_FORMAT));
    expect(readFileSync(join(dir, 'args'), 'utf8').trim()).toBe('buildx inspect builder-1');
    await inspectBuilder('', { docker });
    expect(readFileSync(join(dir, 'args'), 'utf8').trim()).toBe('buildx inspect');
  });

  it('a failing inspect is undefined, with its last stderr line logged; so is a docker that is not there', async () => {
    const logs: string[] = [];
    const docker = stub('fail', 'echo "ERROR: no builder \\"nope\\" found" >&2\nexit 1');
    expect(await inspectBuilder('nope', { docker, log: (m) => logs.push(m) })).toBeUndefined();
    expect(logs).toEqual(['docker buildx inspect failed: ERROR: no builder "nope" found']);
    expect(
      await inspectBuilder('', { docker: join(dir, 'missing'), log: (m) => logs.push(m) }),
    ).toBeUndefined();
    expect(logs).toHaveLength(2);
  });
});

describe('supportsOrWarn', () => {
  it('warns once naming the input, the version it needs and the one here', () => {
    const warnings: string[] = [];
    expect(
      supportsOrWarn({ version: '0.11.2', raw: '' }, 'annotations', '0.12.0', (m) => warnings.push(m)),
    ).toBe(false);
    expect(
      supportsOrWarn({ version: '0.12.0', raw: '' }, 'annotations', '0.12.0', (m) => warnings.push(m)),
    ).toBe(true);
    expect(supportsOrWarn({ raw: 'dev' }, 'annotations', '0.12.0', (m) => warnings.push(m))).toBe(true);
    expect(warnings).toEqual([
      'Input `annotations` needs buildx >= 0.12.0 (this runner has 0.11.2): it is ignored.',
    ]);
  });
});

describe('buildPlatformNote', () => {
  it('says the input has no effect, and nothing when it is not given', () => {
    expect(buildPlatformNote('linux/arm64')).toBe(
      "Input `build-platform` (linux/arm64) has no effect: every build runs on this runner's one builder, platforms other than its own under QEMU emulation.",
    );
    expect(buildPlatformNote('')).toBeUndefined();
  });
});
