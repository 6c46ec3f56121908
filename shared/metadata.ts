// What buildx and depot wrote to the metadata file, read into the actions' outputs.
import { existsSync, readFileSync } from 'node:fs';

export interface DepotBuildInfo {
  buildID?: string;
  projectID?: string;
  isolated?: boolean;
}

export interface BuildMetadata {
  /** The raw JSON text, as the `metadata` output. */
  raw: string;
  digest?: string;
  imageName?: string;
  depot?: DepotBuildInfo;
  /** For bake: target -> that target's metadata. */
  targets: Record<string, { digest?: string; imageName?: string; platforms?: string }>;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function readMetadata(file: string): BuildMetadata | undefined {
  if (!existsSync(file)) return undefined;
  const raw = readFileSync(file, 'utf8').trim();
  if (raw === '' || raw === 'null') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { raw, targets: {} };
  }
  if (!isObj(json)) return { raw, targets: {} };
  const meta: BuildMetadata = { raw, targets: {} };
  const digest = str(json['containerimage.digest']);
  if (digest) meta.digest = digest;
  const name = str(json['image.name']);
  if (name) meta.imageName = name;
  const depot = json['depot.build'];
  if (isObj(depot)) {
    meta.depot = {};
    if (str(depot.buildID)) meta.depot.buildID = str(depot.buildID);
    if (str(depot.projectID)) meta.depot.projectID = str(depot.projectID);
    if (typeof depot.isolated === 'boolean') meta.depot.isolated = depot.isolated;
  }
  for (const [key, value] of Object.entries(json)) {
    if (!isObj(value) || key.includes('.')) continue;
    const target: { digest?: string; imageName?: string } = {};
    const d = str(value['containerimage.digest']);
    if (d) target.digest = d;
    const n = str(value['image.name']);
    if (n) target.imageName = n;
    meta.targets[key] = target;
  }
  return meta;
}

export function readImageId(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8').trim() || undefined;
}
