// actions/monorepo-plan: plan (changed paths to a build matrix), record (one leg's result as an artifact), gather
// (every leg's digest and the run's summary). main only runs the phases of the mode.
import * as core from '@actions/core';
import { getGithubContext } from '../../../shared/github';
import { run } from '../../../shared/runner';
import { setOutputs } from '../../../shared/outputs';
import { gathered, parsePlan, readRecords } from './gather';
import { getInputs } from './inputs';
import type { Inputs } from './inputs';
import { plan } from './plan';
import { defaultStore, fromHistory, fromMetadata, uploadRecord } from './record';
import { NOTHING_CHANGED, planTable, writeReport } from './report';

async function planMode(inputs: Inputs): Promise<void> {
  const root = process.env.GITHUB_WORKSPACE || process.cwd();
  const p = await plan(inputs, { root, github: getGithubContext(), env: process.env });
  await setOutputs({
    matrix: JSON.stringify({ include: p.include }),
    count: String(p.include.length),
    mode: p.mode,
    'registry-host': p.registryHost,
  });
  await writeReport(planTable(p, inputs['bake-file']), p.include.length === 0 ? NOTHING_CHANGED : undefined);
  if (p.include.length === 0) core.info(NOTHING_CHANGED);
}

async function recordMode(inputs: Inputs): Promise<void> {
  const { digest, ref } = fromMetadata(inputs.metadata, inputs.target);
  if (!digest) core.warning(`The build's metadata of ${inputs.name} holds no containerimage.digest.`);
  const history = await core.group('Build history', () => fromHistory(ref));
  await uploadRecord(
    { name: inputs.name, target: inputs.target, digest, ref, ...history },
    await defaultStore(),
  );
  await setOutputs({ digest });
}

async function gatherMode(inputs: Inputs): Promise<void> {
  const planned = parsePlan(inputs.plan);
  const records = planned.length > 0 ? await readRecords(await defaultStore()) : new Map();
  const g = gathered(planned, records);
  await setOutputs({ digests: JSON.stringify(g.digests), built: JSON.stringify(g.built) });
  await writeReport(g.table, planned.length === 0 ? NOTHING_CHANGED : undefined);
}

async function main(): Promise<void> {
  const inputs = getInputs();
  if (inputs.mode === 'record') return recordMode(inputs);
  if (inputs.mode === 'gather') return gatherMode(inputs);
  return planMode(inputs);
}

void run(main);
