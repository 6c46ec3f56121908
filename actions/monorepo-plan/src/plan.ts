// The plan: which images a change builds, and why, as the build matrix of the build-monorepo workflow.
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import * as core from '@actions/core';
import dockerignore from '@balena/dockerignore';
import { UserError } from '../../../shared/errors';
import type { GithubContext } from '../../../shared/github';
import { changedPaths, touchedPaths, workflowFiles } from './changes';
import type { ChangeSet } from './changes';
import { copySources, sourceReads } from './dockerfile';
import type { CopySource } from './dockerfile';
import type { Change } from './git';
import { Git } from './git';
import { bakeImages, isLocalContext, printBake, readImageDir, repoPath } from './images';
import type { ImageSpec } from './images';
import type { Inputs } from './inputs';

/** One leg of the matrix: every field a string, so `${{ matrix.x }}` is never null. */
export interface MatrixEntry {
  name: string;
  context: string;
  file: string;
  platforms: string;
  tags: string;
  'build-contexts': string;
  target: string;
  set: string;
  reason: string;
}

export interface Plan {
  mode: 'images' | 'bake';
  include: MatrixEntry[];
  registryHost: string;
  /** Why every image is built, when it is. */
  everything?: string;
  /** The diff's range, '' when there was none. */
  range: string;
  changes: Change[];
  /** Listed image directories deleted by the change, left out. */
  deleted: string[];
}

export type PlanInputs = Pick<
  Inputs,
  'images' | 'bake-file' | 'platforms' | 'registry' | 'tag-prefix' | 'all'
>;

export interface PlanContext {
  /** The checkout (GITHUB_WORKSPACE). */
  root: string;
  github: GithubContext;
  env: NodeJS.ProcessEnv;
  /** `docker buildx bake --print` (default: the real one). */
  printBake?: (root: string, files: string[]) => Promise<unknown>;
}

/** How many changed paths the log lists. */
const SHOWN_CHANGES = 200;

/** A repository name component (and so a tag-safe name, an artifact-safe name and a cache key). */
const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

export async function plan(inputs: PlanInputs, ctx: PlanContext): Promise<Plan> {
  const git = new Git(ctx.root, ctx.env);
  const set = await core.group('Changed paths', async () => {
    const s = await changedPaths(ctx.github, git, inputs.all);
    core.info(s.range ? `${s.range}: ${s.changes.length} changed paths` : 'No diff');
    for (const c of s.changes.slice(0, SHOWN_CHANGES)) {
      core.info(`${c.status} ${c.from ? `${c.from} -> ` : ''}${c.path}`);
    }
    if (s.changes.length > SHOWN_CHANGES) core.info(`... and ${s.changes.length - SHOWN_CHANGES} more`);
    if (s.everything) core.info(`Every image is built: ${s.everything}`);
    return s;
  });
  const bakeFiles = inputs['bake-file'].map((f) => repoPath(f, `Input \`bake-file\`: ${f}`));
  const everything = set.everything ?? triggerForAll(set, bakeFiles, ctx.env);
  const mode = bakeFiles.length > 0 ? 'bake' : 'images';
  const deleted: string[] = [];
  let images: ImageSpec[];
  if (mode === 'bake') {
    const printed = await (ctx.printBake ?? printBake)(ctx.root, bakeFiles);
    images = bakeImages(printed, bakeFiles.join(', '));
  } else {
    images = [];
    for (const listed of inputs.images) {
      const image = readImageDir(ctx.root, listed);
      if (image) {
        images.push(image);
        continue;
      }
      const dir = repoPath(listed, `Input \`images\`: ${listed}`);
      if (wasDeleted(dir, set.changes, ctx.root)) {
        core.notice(`${dir} was deleted (or moved) by this change: its image is not built.`);
        deleted.push(dir);
        continue;
      }
      throw new UserError(
        `Input \`images\`: ${dir} has no Dockerfile (${posix.join(dir, 'Dockerfile')}): list directories that hold one, one per line.`,
      );
    }
  }
  checkNames(images);

  const registryHost = inputs.registry.split('/')[0] ?? '';
  const sha = (ctx.github.sha || set.head).slice(0, 7);
  const defaultBranch = defaultBranchOf(ctx.github);
  const onDefault = defaultBranch !== '' && ctx.github.ref === `refs/heads/${defaultBranch}`;
  const include = await core.group('Images', async () => {
    const entries: MatrixEntry[] = [];
    for (const image of images) {
      const reason = everything ?? whyBuilt(image, set.changes, ctx.root);
      core.info(`${image.name} (${image.origin}): ${reason ? `built: ${reason}` : 'not built'}`);
      if (reason) entries.push(entry(image, reason, inputs, { sha, onDefault }));
    }
    return entries;
  });
  return {
    mode,
    include,
    registryHost,
    ...(everything ? { everything } : {}),
    range: set.range,
    changes: set.changes,
    deleted,
  };
}

/** The event's `repository.default_branch`, '' when the payload does not say. */
function defaultBranchOf(github: GithubContext): string {
  const r = github.payload.repository;
  const branch =
    r !== null && typeof r === 'object' ? (r as Record<string, unknown>).default_branch : undefined;
  return typeof branch === 'string' ? branch : '';
}

/** A change to a bake file or to the workflow builds every image. */
function triggerForAll(set: ChangeSet, bakeFiles: string[], env: NodeJS.ProcessEnv): string | undefined {
  const paths = touchedPaths(set.changes);
  for (const file of bakeFiles) {
    if (paths.includes(file)) return `${file} changed (the bake file): every image`;
  }
  for (const file of workflowFiles(env)) {
    if (paths.includes(file)) return `${file} changed (the workflow): every image`;
  }
  return undefined;
}

const under = (path: string, dir: string): boolean =>
  dir === '.' || path === dir || path.startsWith(`${dir}/`);

/** A listed directory the change deleted (its files deleted or renamed away), and gone from the checkout. */
function wasDeleted(dir: string, changes: Change[], root: string): boolean {
  if (existsSync(join(root, dir, 'Dockerfile'))) return false;
  return changes.some(
    (c) => (c.status === 'D' && under(c.path, dir)) || (c.status === 'R' && c.from && under(c.from, dir)),
  );
}

function checkNames(images: ImageSpec[]): void {
  const seen = new Map<string, ImageSpec>();
  for (const image of images) {
    if (!NAME.test(image.name)) {
      throw new UserError(
        `Image name "${image.name}" (${image.origin}) is not tag-safe: use lowercase letters and digits, separated by . _ or - (image.json "name").`,
      );
    }
    const other = seen.get(image.name);
    if (other) {
      throw new UserError(
        `Two images are named ${image.name}: ${other.origin} and ${image.origin}; give one another "name" in its image.json.`,
      );
    }
    seen.set(image.name, image);
  }
}

/** Why the change builds `image`, or undefined when it does not. */
export function whyBuilt(image: ImageSpec, changes: Change[], root: string): string | undefined {
  const changed = (test: (path: string) => boolean): string | undefined => {
    for (const c of changes) {
      if (c.from && test(c.from)) return `${c.from} ${c.status === 'R' ? `renamed to ${c.path}` : 'changed'}`;
      if (test(c.path)) {
        if (c.from && c.status === 'R') return `${c.from} renamed to ${c.path}`;
        return `${c.path} ${c.status === 'D' ? 'deleted' : c.status === 'A' ? 'added' : 'changed'}`;
      }
    }
    return undefined;
  };
  const local = isLocalContext(image.context);
  const inContext = (p: string) => local && under(p, image.context);
  const rel = (p: string) => relativeTo(image.context, p);
  const ignores = [image.dockerfile ? `${image.dockerfile}.dockerignore` : ''];
  if (local) ignores.push(ignoreFileOf(image.context));
  // A path the build's ignore file leaves out of the context cannot change the image: the builder never sees it.
  // The Dockerfile, the ignore file itself and image.json count whatever the ignore file says (checked by name).
  const excluded = local ? contextExclusions(ignores, root) : () => false;
  const sent = (p: string) => !inContext(p) || !excluded(rel(p));
  const config = `${image.dir}/image.json`;
  const inDir = local ? changed((p) => under(p, image.dir) && (sent(p) || p === config)) : undefined;
  if (inDir) return inDir;
  if (image.dockerfile) {
    const file = changed((p) => p === image.dockerfile);
    if (file) return `${file} (its Dockerfile)`;
  }
  const ignore = changed((p) => ignores.includes(p));
  if (ignore) return `${ignore} (its .dockerignore)`;

  const sources = readSources(image, root);
  for (const s of sources.filter((x) => x.kind === 'context')) {
    const hit = changed((p) => inContext(p) && sent(p) && sourceReads(s.path, rel(p)));
    if (hit) return `${hit} (${s.instruction} ${s.raw} in ${image.dockerfile})`;
  }
  // A named local context is sent less its own .dockerignore, as the main context is (BuildKit applies it there too;
  // the ignore file itself is sent).
  for (const [name, value] of Object.entries(image.contexts)) {
    if (!isLocalContext(value)) continue;
    const ignoreFile = ignoreFileOf(value);
    const leftOut = contextExclusions([ignoreFile], root);
    const hit = changed((p) => under(p, value) && (p === ignoreFile || !leftOut(relativeTo(value, p))));
    if (hit) return `${hit} (build context ${name}=${value})`;
  }
  const unresolved = sources.find((x) => x.kind === 'unresolved');
  if (unresolved) {
    const hit = changed((p) => inContext(p) && sent(p));
    if (hit) {
      return `${hit}, and ${unresolved.instruction} ${unresolved.raw} in ${image.dockerfile} cannot be resolved`;
    }
  }
  return undefined;
}

/** A context directory's .dockerignore, as a repository path. */
const ignoreFileOf = (dir: string): string => (dir === '.' ? '.dockerignore' : `${dir}/.dockerignore`);

/** `path` (a repository path under `dir`) relative to `dir`. */
const relativeTo = (dir: string, path: string): string => (dir === '.' ? path : path.slice(dir.length + 1));

/**
 * What the build leaves out of its context, as BuildKit decides it: the Dockerfile's own ignore file
 * (`<Dockerfile>.dockerignore`) when there is one, else the context's `.dockerignore`, with Docker's pattern rules
 * (@balena/dockerignore: patterns anchored at the context's root, `**`, a directory's pattern covering its files, `!`
 * exceptions). Paths are relative to the context. With neither file every path is sent.
 */
function contextExclusions(files: string[], root: string): (path: string) => boolean {
  const file = files.find((f) => f !== '' && existsSync(join(root, f)));
  let text: string;
  try {
    if (!file) return () => false;
    text = readFileSync(join(root, file), 'utf8');
  } catch {
    return () => false; // unreadable (a directory, say): the build would fail on it; nothing is left out here
  }
  const rules = dockerignore().add(text.split(/\r?\n/));
  return (path) => rules.ignores(path);
}

function readSources(image: ImageSpec, root: string): CopySource[] {
  if (!image.dockerfile || !isLocalContext(image.context)) return [];
  const file = join(root, image.dockerfile);
  if (!existsSync(file)) return [];
  return copySources(readFileSync(file, 'utf8'));
}

function entry(
  image: ImageSpec,
  reason: string,
  inputs: PlanInputs,
  at: { sha: string; onDefault: boolean },
): MatrixEntry {
  const platforms = image.platforms.length > 0 ? image.platforms : inputs.platforms;
  const tags: string[] = [];
  if (inputs.registry) {
    const repo = `${inputs.registry}/${inputs['tag-prefix']}${image.name}`;
    tags.push(`${repo}:${at.sha}`);
    if (at.onDefault) tags.push(`${repo}:latest`);
  }
  const set: string[] = [];
  if (image.target) {
    for (const tag of tags) set.push(`${image.target}.tags=${tag}`);
    // bake's --set key is `platform` (`platforms` is refused as an unknown key); each line adds one.
    if (image.platforms.length === 0) for (const p of platforms) set.push(`${image.target}.platform=${p}`);
  }
  return {
    name: image.name,
    context: image.context,
    file: image.dockerfile,
    platforms: platforms.join(','),
    tags: tags.join('\n'),
    'build-contexts': Object.entries(image.contexts)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
    target: image.target,
    set: set.join('\n'),
    reason,
  };
}
