// Runs a CircleCI job of a config that uses the packed orb (integrations/circleci/dist/orb.yml) as CircleCI's
// machine executor runs it: each `<orb>/<command>` step expanded into the orb command's run steps (its
// `<< parameters.x >>` replaced by the step's values over the defaults), each run step a script file started with
// its `shell` (default `/bin/bash -eo pipefail`), with the job's env plus the step's `environment`, and one BASH_ENV
// file kept between steps (bash sources it first). `checkout` is skipped (the job runs in a checkout already). The
// first failing step ends the job.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface OrbRunStep {
  name: string;
  command: string;
  shell: string;
  environment: Record<string, string>;
}

export interface StepResult {
  name: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface JobResult {
  /** The first failing step's status, else 0. */
  code: number | null;
  steps: StepResult[];
  /** Everything the steps printed. */
  output: string;
}

type Yaml = Record<string, unknown>;
const isRecord = (v: unknown): v is Yaml => v !== null && typeof v === 'object' && !Array.isArray(v);

function substitute(node: unknown, values: Record<string, unknown>): unknown {
  if (typeof node === 'string')
    return node.replace(/<<\s*parameters\.([a-z0-9_]+)\s*>>/g, (_, name: string) => {
      if (!(name in values)) throw new Error(`no value for << parameters.${name} >>`);
      return String(values[name]);
    });
  if (Array.isArray(node)) return node.map((v) => substitute(v, values));
  if (isRecord(node))
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substitute(v, values)]));
  return node;
}

/**
 * The run steps of `job` in `configFile`, its orb steps expanded from `orbFile`. `overrides[command]` replaces
 * parameters of that orb command's step (what a test points at its own broker, release and registry).
 */
export function orbJobSteps(
  configFile: string,
  orbFile: string,
  job: string,
  overrides: Record<string, Record<string, unknown>> = {},
): OrbRunStep[] {
  const config = parse(readFileSync(configFile, 'utf8')) as Yaml;
  const orb = parse(readFileSync(orbFile, 'utf8')) as Yaml;
  const alias = Object.keys(isRecord(config.orbs) ? config.orbs : {})[0];
  const jobs = isRecord(config.jobs) ? config.jobs : {};
  const steps = (jobs[job] as { steps?: unknown[] } | undefined)?.steps;
  if (!steps) throw new Error(`${configFile} has no job ${job}`);
  const commands = isRecord(orb.commands) ? orb.commands : {};
  const out: OrbRunStep[] = [];
  for (const step of steps) {
    const [key, given] =
      typeof step === 'string' ? [step, {}] : (Object.entries(step as Yaml)[0] ?? ['', {}]);
    if (key === 'checkout') continue;
    if (alias === undefined || !key.startsWith(`${alias}/`))
      throw new Error(`step ${key} is not one of the orb's`);
    const name = key.slice(alias.length + 1);
    const command = commands[name] as { parameters?: Record<string, { default?: unknown }>; steps: Yaml[] };
    if (!command) throw new Error(`the orb has no command ${name}`);
    const values: Record<string, unknown> = {};
    for (const [p, def] of Object.entries(command.parameters ?? {}))
      if ('default' in def) values[p] = def.default;
    Object.assign(values, isRecord(given) ? given : {}, overrides[name] ?? {});
    for (const s of substitute(command.steps, values) as Yaml[]) {
      const run = s.run as {
        name: string;
        command: string;
        shell?: string;
        environment?: Record<string, unknown>;
      };
      out.push({
        name: run.name,
        command: run.command,
        shell: run.shell ?? '/bin/bash -eo pipefail',
        environment: Object.fromEntries(
          Object.entries(run.environment ?? {}).map(([k, v]) => [k, String(v)]),
        ),
      });
    }
  }
  return out;
}

function runOne(
  file: string,
  shell: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<Omit<StepResult, 'name'>> {
  const [cmd, ...args] = shell.split(/\s+/);
  return new Promise((done, fail) => {
    const child = spawn(cmd ?? '/bin/bash', [...args, file], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Runs the steps in order in `cwd`, with `env` (CircleCI's variables), one BASH_ENV for the job. */
export async function runOrbJob(
  steps: OrbRunStep[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<JobResult> {
  const dir = mkdtempSync(join(tmpdir(), 'circleci-job-'));
  const bashEnv = join(dir, 'bash.env');
  writeFileSync(bashEnv, '');
  const results: StepResult[] = [];
  let code: number | null = 0;
  for (const [i, step] of steps.entries()) {
    const file = join(dir, `step-${i}.sh`);
    writeFileSync(file, step.command, { mode: 0o755 });
    const r = await runOne(file, step.shell, { ...env, ...step.environment, BASH_ENV: bashEnv }, cwd);
    results.push({ name: step.name, ...r });
    if (r.code !== 0) {
      code = r.code;
      break;
    }
  }
  return { code, steps: results, output: results.map((r) => `${r.stdout}${r.stderr}`).join('\n') };
}
