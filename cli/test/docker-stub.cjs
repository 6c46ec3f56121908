#!/usr/bin/env node
// A stand-in `docker` for the CLI's process tests: records argv, the env depot gives it and the temporary
// DOCKER_CONFIG's config.json into $STUB_LOG (JSON lines), writes {} to --metadata-file, and with STUB_SLEEP waits
// to be signalled (recording the signal).
const fs = require('node:fs');
const path = require('node:path');
const args = process.argv.slice(2);
const dockerConfig = process.env.DOCKER_CONFIG;
let config = null;
if (dockerConfig && fs.existsSync(path.join(dockerConfig, 'config.json'))) {
  config = JSON.parse(fs.readFileSync(path.join(dockerConfig, 'config.json'), 'utf8'));
}
const record = (extra) =>
  fs.appendFileSync(
    process.env.STUB_LOG,
    JSON.stringify({ args, dockerConfig, depotToken: process.env.DEPOT_TOKEN ?? null, config, ...extra }) +
      '\n',
  );
record({});
if (args[0] === 'buildx' && args[1] === 'version') {
  process.stdout.write('github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4\n');
  process.exit(0);
}
const i = args.indexOf('--metadata-file');
if (i >= 0) fs.writeFileSync(args[i + 1], '{"containerimage.digest":"sha256:abc"}');
if (process.env.STUB_SLEEP) {
  for (const s of ['SIGTERM', 'SIGINT']) {
    process.on(s, () => {
      record({ signal: s });
      process.exit(130);
    });
  }
  fs.writeFileSync(process.env.STUB_SLEEP, 'started');
  setInterval(() => undefined, 1000);
} else process.exit(Number(process.env.STUB_EXIT ?? 0));
