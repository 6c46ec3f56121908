import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeConfig, TempDockerConfig } from './docker-config';

const creds = [{ host: 'localhost:5001', username: 'depot', password: 'project-token-value' }];

function userDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'depot-user-docker-'));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      auths: { 'ghcr.io': { auth: 'dXNlcjpwYXNz' } },
      credHelpers: { 'localhost:5001': 'ecr-login', 'gcr.io': 'gcloud' },
      credsStore: 'pass',
      currentContext: 'remote',
    }),
  );
  for (const sub of ['contexts', 'buildx', 'cli-plugins']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'cli-plugins', 'docker-compose'), '#!/bin/sh\n');
  return dir;
}

describe('mergeConfig', () => {
  it("adds the cache host's credentials and keeps every other login and helper", () => {
    const merged = mergeConfig(
      {
        auths: { 'ghcr.io': { auth: 'x' } },
        credHelpers: { 'localhost:5001': 'h', 'gcr.io': 'g' },
        currentContext: 'c',
      },
      creds,
    );
    expect(merged.auths).toEqual({
      'ghcr.io': { auth: 'x' },
      'localhost:5001': { auth: Buffer.from('depot:project-token-value').toString('base64') },
    });
    expect(merged.credHelpers).toEqual({ 'gcr.io': 'g' });
    expect(merged.currentContext).toBe('c');
  });
});

describe('mergeConfig with a credsStore', () => {
  it("gives the cache host depot's own helper, since docker ignores auths when a credsStore is set", () => {
    const merged = mergeConfig({ credsStore: 'desktop', credHelpers: { 'gcr.io': 'gcloud' } }, creds);
    expect(merged.credHelpers).toEqual({ 'gcr.io': 'gcloud', 'localhost:5001': 'depot-cache' });
    expect(merged.credsStore).toBe('desktop');
  });
});

describe('TempDockerConfig', () => {
  it('puts a working credential helper for the cache host on PATH when the user has a credsStore', () => {
    const dir = mkdtempSync(join(tmpdir(), 'depot-user-docker-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: 'desktop' }));
    const tmp = TempDockerConfig.create({ env: { DOCKER_CONFIG: dir }, creds });
    expect(tmp.pathPrefix).toBe(join(tmp.dir, 'bin'));
    const out = execFileSync(join(tmp.dir, 'bin', 'docker-credential-depot-cache'), ['get'], {
      input: 'localhost:5001',
    });
    expect(JSON.parse(out.toString())).toEqual({
      ServerURL: 'localhost:5001',
      Username: 'depot',
      Secret: 'project-token-value',
    });
    expect(statSync(join(tmp.dir, 'cache-credentials.json')).mode & 0o777).toBe(0o600);
    tmp.remove();
  });

  it("keeps the user's config dir untouched and links contexts, builders and plugins", () => {
    const dir = userDir();
    const before = readFileSync(join(dir, 'config.json'), 'utf8');
    const tmp = TempDockerConfig.create({ env: { DOCKER_CONFIG: dir }, creds });
    expect(statSync(tmp.dir).mode & 0o777).toBe(0o700);
    const config = JSON.parse(readFileSync(join(tmp.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.currentContext).toBe('remote');
    expect(Object.keys(config.auths as object).sort()).toEqual(['ghcr.io', 'localhost:5001']);
    expect(readlinkSync(join(tmp.dir, 'contexts'))).toBe(join(dir, 'contexts'));
    expect(readlinkSync(join(tmp.dir, 'buildx'))).toBe(join(dir, 'buildx'));
    expect(readlinkSync(join(tmp.dir, 'cli-plugins', 'docker-compose'))).toBe(
      join(dir, 'cli-plugins', 'docker-compose'),
    );
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(before);
    tmp.remove();
    expect(existsSync(tmp.dir)).toBe(false);
  });

  it("lists the recorded real buildx instead of depot's shim", () => {
    const dir = userDir();
    writeFileSync(join(dir, 'cli-plugins', 'docker-buildx'), '#!/bin/sh\n# depot configure-docker shim\n');
    writeFileSync(
      join(dir, 'depot-configure-docker.json'),
      JSON.stringify({ buildx: '/usr/libexec/docker/cli-plugins/docker-buildx' }),
    );
    const tmp = TempDockerConfig.create({ env: { DOCKER_CONFIG: dir }, creds: [] });
    expect(readlinkSync(join(tmp.dir, 'cli-plugins', 'docker-buildx'))).toBe(
      '/usr/libexec/docker/cli-plugins/docker-buildx',
    );
    tmp.remove();
  });

  it('works when the user has no docker config at all', () => {
    const home = mkdtempSync(join(tmpdir(), 'depot-home-'));
    const tmp = TempDockerConfig.create({ env: { HOME: home }, creds });
    expect(JSON.parse(readFileSync(join(tmp.dir, 'config.json'), 'utf8'))).toEqual({
      auths: { 'localhost:5001': { auth: Buffer.from('depot:project-token-value').toString('base64') } },
    });
    tmp.remove();
  });

  it('refuses a broken config.json in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'depot-user-docker-'));
    writeFileSync(join(dir, 'config.json'), '{nope');
    expect(() => TempDockerConfig.create({ env: { DOCKER_CONFIG: dir }, creds })).toThrow(
      `${dir}/config.json is not valid JSON`,
    );
  });
});
