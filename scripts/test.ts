// `npm test`: the dist check, the README check, shellcheck and yamllint (scripts/engine.sh tools), the unit tests
// (and the broker's SQLite store tests again under Node 24, on node:sqlite) while the engine comes up beside them
// (scripts/engine.sh up installs and starts what is missing, in the background: ten minutes on a fresh machine),
// then PostgreSQL for the broker's store (scripts/postgres.sh up: its URL reaches the tests as
// BROKER_TEST_DATABASE_URL), nginx for the deployment test (scripts/nginx.sh up) and the tests that run against them.
// Each vitest run writes a JSON report to .tmp/reports/; the last
// line printed is `N passed, N failed` over all of them, so a run that executed no test is visible, and the lines
// before it name each failed test.
// When check-dist passed, the vitest runs get DEPOT_TEST_DIST_CHECKED=1 and the tests that run bundles run dist/
// as it is; otherwise (a failed check, or --e2e alone) they build the bundles from the sources
// (test/support/bundles.ts).
// Flags: --unit (unit tests only), --e2e (engine tests only).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NODE24 } from '../test/support/node24';
import { failures, summarize } from './report';

const root = resolve(import.meta.dirname, '..');
const reports = join(root, '.tmp', 'reports');
const only = new Set(process.argv.slice(2));

/** Env for the vitest runs: DEPOT_TEST_DIST_CHECKED=1 once check-dist has passed in this run. */
const testEnv: NodeJS.ProcessEnv = { ...process.env };
delete testEnv.DEPOT_TEST_DIST_CHECKED;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  console.log(`\n> ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  return r.status ?? 1;
}

function vitest(config: string, report: string, filters: string[] = [], node?: string): number {
  const args = [
    'run',
    '--config',
    config,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${join(reports, report)}`,
    ...filters,
  ];
  return node
    ? run(node, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), ...args], testEnv)
    : run(join(root, 'node_modules', '.bin', 'vitest'), args, testEnv);
}

/**
 * `scripts/engine.sh up` started now, in the background, its output kept in a file: on a fresh machine its package
 * downloads and the Debian base image take about ten minutes, which the unit tests fill. Resolves to its exit code
 * once it ends; engineDone() prints what it said.
 */
function startEngine(): Promise<number> {
  const log = join(reports, 'engine-up.log');
  console.log(
    `\n> bash scripts/engine.sh up (in the background while the unit tests run; its output: below, later)`,
  );
  const out = openSync(log, 'w');
  const child = spawn('bash', [join(root, 'scripts', 'engine.sh'), 'up'], {
    cwd: root,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  return new Promise((resolve) => {
    child.on('error', () => resolve(1));
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function engineDone(engine: Promise<number>): Promise<number> {
  const code = await engine;
  console.log(`\n> bash scripts/engine.sh up (started in the background) ended with ${code}:`);
  process.stdout.write(readFileSync(join(reports, 'engine-up.log'), 'utf8'));
  return code;
}

rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });
let failed = false;
const unit = !only.has('--e2e');
const e2e = !only.has('--unit');
let engine: Promise<number> | undefined;
if (unit) {
  if (run('npm', ['run', '--silent', 'check-dist']) === 0) testEnv.DEPOT_TEST_DIST_CHECKED = '1';
  else failed = true;
  failed =
    run(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'scripts', 'readme.ts'), '--check']) !== 0 ||
    failed;
  // shellcheck and yamllint, which scripts/lint.test.ts runs over scripts/install.sh and the repository's YAML.
  if (run('bash', [join(root, 'scripts', 'engine.sh'), 'tools']) !== 0) {
    console.error('shellcheck and yamllint could not be installed (scripts/engine.sh tools failed).');
    failed = true;
  }
  // After `tools` (both take apt's lock) and before PostgreSQL's and nginx's installs, which wait for it below.
  if (e2e) engine = startEngine();
  failed = vitest('vitest.config.ts', 'unit.json') !== 0 || failed;
  // The broker's SQLite store again under Node 24 (NODE24): the same tests on node:sqlite instead of better-sqlite3.
  failed =
    vitest('vitest.config.ts', 'unit-node24-store.json', ['oidc-broker/src/store/sqlite'], NODE24) !== 0 ||
    failed;
}
/** Starts the tests' PostgreSQL (scripts/postgres.sh up) and returns its URL; undefined when it failed. */
function startPostgres(): string | undefined {
  console.log(`\n> bash scripts/postgres.sh up`);
  const r = spawnSync('bash', [join(root, 'scripts', 'postgres.sh'), 'up'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const url = r.stdout.trim();
  return r.status === 0 && url.startsWith('postgres://') ? url : undefined;
}

if (e2e) {
  // The engine first: its apt installs hold the lock that PostgreSQL's and nginx's would need.
  const engineCode = engine
    ? await engineDone(engine)
    : run('bash', [join(root, 'scripts', 'engine.sh'), 'up']);
  const databaseUrl = startPostgres();
  if (databaseUrl === undefined) {
    console.error(
      'PostgreSQL could not be started (scripts/postgres.sh up failed): the store tests on PostgreSQL will fail.',
    );
    failed = true;
  } else testEnv.BROKER_TEST_DATABASE_URL = databaseUrl;
  // nginx for the deployment test (installed with service starts denied; the test starts and stops its own).
  if (run('bash', [join(root, 'scripts', 'nginx.sh'), 'up']) !== 0) {
    console.error(
      'nginx could not be installed (scripts/nginx.sh up failed): the deployment test will fail.',
    );
    failed = true;
  }
  if (engineCode !== 0) {
    console.error(
      'The engine could not be started (scripts/engine.sh up failed): the engine tests did not run.',
    );
    failed = true;
  } else {
    failed = vitest('vitest.e2e.config.ts', 'e2e.json') !== 0 || failed;
  }
}
// The failed tests by name just above the closing line, so a log cut to its tail still names them.
for (const line of failures(reports, root)) console.log(line);
const total = summarize(reports);
console.log(`${total.passed} passed, ${total.failed} failed`);
process.exit(failed || total.failed > 0 ? 1 : 0);
