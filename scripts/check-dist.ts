// Fails when dist/ differs from a fresh build of the sources, or the packed CircleCI orb from its sources, and names
// the fix.
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { build } from './build';
import { packOrb } from './pack-orb';

const root = resolve(import.meta.dirname, '..');
const fresh = join(root, '.tmp', 'dist-check');

function files(dir: string): string[] {
  let out: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    out = statSync(p).isDirectory() ? out.concat(files(p)) : out.concat(p);
  }
  return out;
}

rmSync(fresh, { recursive: true, force: true });
build(fresh);
const dist = join(root, 'dist');
const want = new Map(files(fresh).map((f) => [relative(fresh, f), f]));
const have = new Map(files(dist).map((f) => [relative(dist, f), f]));
const stale: string[] = [];
for (const [name, f] of want) {
  const d = have.get(name);
  if (!d) stale.push(`missing dist/${name}`);
  else if (!readFileSync(d).equals(readFileSync(f))) stale.push(`changed dist/${name}`);
}
for (const name of have.keys()) if (!want.has(name)) stale.push(`extra dist/${name}`);

// The CircleCI orb: the packed orb.yml and the install script's copy, as `npm run pack:orb` writes them.
const orbStale: string[] = [];
for (const [path, text] of packOrb()) {
  let committed: string | undefined;
  try {
    committed = readFileSync(path, 'utf8');
  } catch {
    committed = undefined;
  }
  if (committed === undefined) orbStale.push(`missing ${relative(root, path)}`);
  else if (committed !== text) orbStale.push(`changed ${relative(root, path)}`);
}
if (orbStale.length > 0)
  console.error(
    `the CircleCI orb is stale (${orbStale.join(', ')}): run \`npm run pack:orb\` and commit it.`,
  );
else console.log('integrations/circleci/dist/orb.yml matches integrations/circleci/src.');

rmSync(fresh, { recursive: true, force: true });
if (stale.length > 0) {
  console.error(`dist/ is stale (${stale.join(', ')}): run \`npm run build\` and commit dist/.`);
  process.exit(1);
}
if (orbStale.length > 0) process.exit(1);
console.log(`dist/ matches the sources (${want.size} files).`);
