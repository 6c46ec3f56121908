// The published JSON Schema of broker.yml (oidc-broker/broker.schema.json) is generated from config-schema.ts: the
// committed file must be exactly what the source generates, and the example configs must point editors at it.
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerJsonSchema } from './config-schema';
import { PROVIDERS } from './providers';
import { renderSchemaFile, SCHEMA_COMMAND, SCHEMA_FILE } from './write-schema';

const ROOT = resolve(import.meta.dirname, '..', '..');

interface RuleJson {
  additionalProperties: boolean;
  properties: Record<string, unknown>;
  anyOf: unknown[];
}

describe('oidc-broker/broker.schema.json', () => {
  it('matches its source, config-schema.ts', async () => {
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    const generated = await renderSchemaFile();
    expect(
      committed === generated,
      `${relative(ROOT, SCHEMA_FILE)} is not what oidc-broker/src/config-schema.ts generates: run \`${SCHEMA_COMMAND}\` and commit the file.`,
    ).toBe(true);
  });

  it('is closed, and a rule takes provider or issuer and the fields of every implemented provider', () => {
    const schema = brokerJsonSchema() as {
      additionalProperties: boolean;
      properties: { projects: { anyOf: { items?: { properties: { rules: { items: RuleJson } } } }[] } };
    };
    expect(schema.additionalProperties).toBe(false);
    const ruleJson = schema.properties.projects.anyOf.find((s) => s.items)?.items?.properties.rules.items;
    expect(ruleJson?.additionalProperties).toBe(false);
    expect(ruleJson?.anyOf).toEqual([{ required: ['provider'] }, { required: ['issuer'] }]);
    expect(Object.keys(ruleJson?.properties ?? {})).toEqual([
      'id',
      'provider',
      'issuer',
      'grants',
      'isolated',
      'claims',
      ...new Set(Object.values(PROVIDERS).flatMap((p) => p.fields.map((f) => f.name))),
    ]);
  });

  it.each([
    ['examples/broker.yml', '../oidc-broker/broker.schema.json'],
    ['examples/demo/broker.yml', '../../oidc-broker/broker.schema.json'],
  ])('%s names it on its first line', (file, ref) => {
    const first = readFileSync(join(ROOT, file), 'utf8').split('\n')[0];
    expect(first).toBe(`# yaml-language-server: $schema=${ref}`);
    expect(resolve(ROOT, file, '..', ref)).toBe(SCHEMA_FILE);
  });
});
