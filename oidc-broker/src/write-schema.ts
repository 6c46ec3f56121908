// `npm run schema:broker`: writes oidc-broker/broker.schema.json, the published JSON Schema of broker.yml, from its
// one declaration in config-schema.ts. schema.test.ts regenerates it in memory and fails when the file differs.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { brokerJsonSchema } from './config-schema';

export const SCHEMA_FILE = resolve(import.meta.dirname, '..', 'broker.schema.json');
export const SCHEMA_COMMAND = 'npm run schema:broker';

/** The file's text: the schema as JSON, formatted as Prettier keeps it. */
export async function renderSchemaFile(): Promise<string> {
  const options = await resolveConfig(SCHEMA_FILE);
  return format(JSON.stringify(brokerJsonSchema(), null, 2), { ...options, filepath: SCHEMA_FILE });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(SCHEMA_FILE, await renderSchemaFile());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
