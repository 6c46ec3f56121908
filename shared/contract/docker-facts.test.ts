// The facts build-push and bake hand the CLI: written by dockerFactsFor (shared/buildx.ts) from one probe, read
// back field by field, and what the CLI takes of them (cli/src/builder-probe.ts handedFacts).
import { describe, expect, it } from 'vitest';
import { handedFacts } from '../../cli/src/builder-probe';
import { dockerFactsFor } from '../buildx';
import { parsePluginsBuildx } from '../buildx-version';
import { DOCKER_FACTS_ENV, encodeDockerFacts, readDockerFacts } from './docker-facts';

const env = (facts: unknown): NodeJS.ProcessEnv => ({
  [DOCKER_FACTS_ENV]: typeof facts === 'string' ? facts : JSON.stringify(facts),
});

// `docker info --format '{{json .ClientInfo.Plugins}}'` on the engine (docker 28.5.2, Debian's buildx).
const PLUGINS =
  '[{"SchemaVersion":"0.1.0","Vendor":"Docker Inc.","Version":"0.29.1+ds1","ShortDescription":"Docker Buildx","Name":"buildx","Path":"/usr/libexec/docker/cli-plugins/docker-buildx"}]';

describe('the buildx version from docker info', () => {
  it('reads the buildx plugin', () => {
    expect(parsePluginsBuildx(PLUGINS)).toEqual({
      version: '0.29.1',
      raw: 'buildx 0.29.1+ds1 (/usr/libexec/docker/cli-plugins/docker-buildx)',
    });
  });
  it.each([['[]'], ['null'], ['not json'], ['[{"Name":"compose","Version":"2.0.0"}]']])(
    'nothing from %s',
    (out) => {
      expect(parsePluginsBuildx(out)).toBeUndefined();
    },
  );
});

describe('dockerFactsFor and readDockerFacts', () => {
  const probe = {
    buildx: { version: '0.29.1', raw: 'buildx 0.29.1' },
    builder: { name: 'default', driver: 'docker', nodes: [{ name: 'default', endpoint: 'default' }] },
    store: 'containerd' as const,
  };

  it('round-trips the version and the builder with its store', () => {
    const facts = dockerFactsFor('', probe);
    expect(facts).toEqual({
      buildx: '0.29.1',
      builder: { asked: '', name: 'default', driver: 'docker', store: 'containerd' },
    });
    expect(readDockerFacts(env(encodeDockerFacts(facts)))).toEqual(facts);
  });

  it('hands over no store for a docker builder on another context, nor for other drivers', () => {
    const other = { ...probe, builder: { ...probe.builder, nodes: [{ name: 'n', endpoint: 'remote-ctx' }] } };
    expect(dockerFactsFor('', other).builder).toEqual({ asked: '', name: 'default', driver: 'docker' });
    const container = { ...probe, builder: { name: 'b', driver: 'docker-container', nodes: [] } };
    expect(dockerFactsFor('b', container).builder).toEqual({
      asked: 'b',
      name: 'b',
      driver: 'docker-container',
    });
  });

  it('hands over nothing it does not know', () => {
    expect(dockerFactsFor('', { buildx: { raw: '' } })).toEqual({});
  });

  it.each<[string, unknown]>([
    ['absent', undefined],
    ['not JSON', '{'],
    ['an array', []],
    ['a bad version and a builder without a driver', { buildx: 'latest', builder: { asked: '', name: 'x' } }],
    ['an unknown store', { builder: { asked: '', name: 'x', driver: 'docker', store: 'zfs' } }],
  ])('reads nothing usable from %s', (_name, value) => {
    const facts = value === undefined ? readDockerFacts({}) : readDockerFacts(env(value));
    expect(facts?.buildx).toBeUndefined();
    expect(facts?.builder).toBeUndefined();
  });
});

describe('what the CLI takes (handedFacts)', () => {
  const facts = { builder: { asked: '', name: 'default', driver: 'docker', store: 'classic' } };

  it('takes the facts of the builder it was asked to use', () => {
    expect(handedFacts(env(facts), undefined)).toEqual({
      name: 'default',
      driver: 'docker',
      store: 'classic',
    });
  });
  it('not those of another builder', () => {
    expect(handedFacts(env(facts), 'other')).toBeUndefined();
    const named = { builder: { asked: 'ci', name: 'ci', driver: 'docker-container' } };
    expect(handedFacts(env(named), 'ci')).toEqual({ name: 'ci', driver: 'docker-container' });
    expect(handedFacts(env(named), undefined)).toBeUndefined();
  });
  it('not a docker driver without its image store', () => {
    expect(handedFacts(env({ builder: { asked: '', name: 'default', driver: 'docker' } }), undefined)).toBe(
      undefined,
    );
  });
});
