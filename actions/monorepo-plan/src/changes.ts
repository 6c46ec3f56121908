// What the event changed: the paths between its base and the checkout's HEAD (a push: before..after; a pull
// request or merge group: base...HEAD, from their merge base), or why every image is built instead.
import * as core from '@actions/core';
import { UserError } from '../../../shared/errors';
import type { GithubContext } from '../../../shared/github';
import type { Change, Git } from './git';
import { short } from './git';

export interface ChangeSet {
  /** Set when every image is built, whatever changed: why (`workflow_dispatch: every image`). */
  everything?: string;
  /** The changed paths, when the event has a base (also with `everything` when it came from a changed file). */
  changes: Change[];
  /** `abc1234..def5678` or `abc1234...def5678` (three dots: from the merge base), '' when there is no diff. */
  range: string;
  head: string;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

const PR_EVENTS = ['pull_request', 'pull_request_target'];
const EVERYTHING_EVENTS = ['workflow_dispatch', 'schedule', 'repository_dispatch', 'release', 'workflow_run'];

/** The event's base and whether it is diffed from the merge base; or why every image is built. */
function eventBase(github: GithubContext): { base: string; threeDot: boolean } | { everything: string } {
  const event = github.eventName;
  const payload = github.payload;
  if (event === 'push') {
    const before = str(payload.before);
    if (payload.created === true || before === '' || /^0+$/.test(before)) {
      return { everything: 'first push: every image' };
    }
    return { base: before, threeDot: false };
  }
  if (PR_EVENTS.includes(event)) {
    const base = str(obj(obj(payload.pull_request)?.base)?.sha);
    if (!base) return { everything: `${event} without a base sha in its payload: every image` };
    return { base, threeDot: true };
  }
  if (event === 'merge_group') {
    const base = str(obj(payload.merge_group)?.base_sha);
    if (!base) return { everything: 'merge_group without a base sha in its payload: every image' };
    return { base, threeDot: true };
  }
  if (EVERYTHING_EVENTS.includes(event) || event === '') {
    return { everything: `${event || 'an unnamed event'}: every image` };
  }
  return { everything: `${event} has no base to compare with: every image` };
}

export async function changedPaths(github: GithubContext, git: Git, all: boolean): Promise<ChangeSet> {
  const head = await git.revParse('HEAD');
  if (!head) {
    throw new UserError(
      `${git.cwd} is not a git checkout with a commit: run actions/checkout before the planner.`,
    );
  }
  if (all) return { everything: 'all: true: every image', changes: [], range: '', head };
  const base = eventBase(github);
  if ('everything' in base) return { everything: base.everything, changes: [], range: '', head };
  const unreachable = await git.reach(base.base, head, true);
  if (unreachable) {
    return {
      everything: `cannot reach base ${short(base.base)} (${unreachable}): every image`,
      changes: [],
      range: '',
      head,
    };
  }
  if (!base.threeDot && !(await git.isAncestor(base.base, head))) {
    return {
      everything: `force push: base ${short(base.base)} is not an ancestor of ${short(head)}: every image`,
      changes: [],
      range: '',
      head,
    };
  }
  const changes = await git.diff(base.base, head, base.threeDot);
  const range = `${short(base.base)}${base.threeDot ? '...' : '..'}${short(head)}`;
  core.debug(`changedPaths: ${range}: ${changes.length} changes`);
  return { changes, range, head };
}

/** Every path a change touched: both sides of a rename. */
export function touchedPaths(changes: Change[]): string[] {
  return changes.flatMap((c) => (c.from ? [c.from, c.path] : [c.path]));
}

/** The workflow files whose change builds everything: the running workflow's, and the reusable one's. */
export function workflowFiles(env: NodeJS.ProcessEnv): string[] {
  const files = ['.github/workflows/build-monorepo.yml'];
  // owner/repo/.github/workflows/x.yml@refs/heads/main
  const m = /^[^/]+\/[^/]+\/(.+?)@/.exec(env.GITHUB_WORKFLOW_REF ?? '');
  if (m?.[1]) files.unshift(m[1]);
  return [...new Set(files)];
}
