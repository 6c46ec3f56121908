// The images a plan chooses from: image directories (a Dockerfile and an optional image.json beside it) or the
// targets of a bake file (`docker buildx bake --print`). Every path here is relative to the repository root.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import * as core from '@actions/core';
import { z } from 'zod';
import { UserError } from '../../../shared/errors';
import { CommandNotFound, exec } from '../../../shared/exec';
import { contextPath } from './dockerfile';

export interface ImageSpec {
  name: string;
  /** The image's directory (images: as listed; bake: its Dockerfile's). */
  dir: string;
  /** The build context, '.' for the repository root. */
  context: string;
  /** The Dockerfile; '' for a bake target with an inline Dockerfile. */
  dockerfile: string;
  /** Its own platforms, or [] for the default. */
  platforms: string[];
  /** Named build contexts: name -> a local path (relative to the root) or a URL / docker-image:// / target:. */
  contexts: Record<string, string>;
  /** The bake target ('' for an image directory). */
  target: string;
  /** Where it was declared, for messages: `services/web` or `target web in docker-bake.hcl`. */
  origin: string;
}

const ImageJson = z.strictObject({
  name: z.string().min(1).optional(),
  platforms: z.union([z.string(), z.array(z.string())]).optional(),
  context: z.string().min(1).optional(),
  contexts: z.record(z.string(), z.string()).optional(),
  dockerfile: z.string().min(1).optional(),
});

/** A repository path as given, normalized: no `./`, no trailing slash, '.' for the root; never above it. */
export function repoPath(path: string, what: string): string {
  const normalized = posix.normalize(path.trim().replace(/\\/g, '/'));
  const clean = normalized.replace(/^\/+/, '').replace(/\/+$/, '') || '.';
  if (clean === '..' || clean.startsWith('../') || path.trim().startsWith('/')) {
    throw new UserError(`${what} must be a path inside the repository, got "${path}".`);
  }
  return clean;
}

/** A named context value that is a local directory (not a URL, docker-image://, target: or oci-layout://). */
export function isLocalContext(value: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(value) || value.startsWith('cwd://');
}

function platformList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : value.split(',');
  return list.map((p) => p.trim()).filter((p) => p !== '');
}

/** The image in `dir`, or undefined when the directory has no Dockerfile. */
export function readImageDir(root: string, listed: string): ImageSpec | undefined {
  const dir = repoPath(listed, `Input \`images\`: ${listed}`);
  const jsonFile = join(root, dir, 'image.json');
  let config: z.infer<typeof ImageJson> = {};
  if (existsSync(jsonFile)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(jsonFile, 'utf8'));
    } catch (err: unknown) {
      throw new UserError(
        `${dir}/image.json is not JSON (${err instanceof Error ? err.message : String(err)}): fix it or remove it.`,
      );
    }
    const parsed = ImageJson.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `field "${issue.path.join('.')}"` : 'it';
      throw new UserError(
        `${dir}/image.json: ${where}: ${issue?.message ?? 'invalid'} (fields: name, platforms, context, contexts, dockerfile).`,
      );
    }
    config = parsed.data;
  }
  const dockerfile = posix.join(
    dir,
    repoPath(config.dockerfile ?? 'Dockerfile', `${dir}/image.json "dockerfile"`),
  );
  const file = join(root, dockerfile);
  if (!existsSync(file) || !statSync(file).isFile()) {
    if (existsSync(jsonFile)) {
      throw new UserError(`${dir}/image.json names ${dockerfile} as its Dockerfile, and there is none.`);
    }
    return undefined;
  }
  const contexts: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.contexts ?? {})) {
    contexts[name] = isLocalContext(value)
      ? repoPath(value.replace(/^cwd:\/\//, ''), `${dir}/image.json "contexts.${name}"`)
      : value;
  }
  return {
    name: config.name ?? posix.basename(dir === '.' ? posix.basename(root) : dir),
    dir,
    context: repoPath(config.context ?? '.', `${dir}/image.json "context"`),
    dockerfile,
    platforms: platformList(config.platforms),
    contexts,
    target: '',
    origin: dir,
  };
}

/** `docker buildx bake --print` of the bake files, in the checkout: every target of the default group, else all. */
export async function printBake(root: string, files: string[]): Promise<unknown> {
  const fileArgs = files.flatMap((f) => ['--file', f]);
  const run = async (args: string[]) => {
    core.debug(`printBake: docker buildx bake ${[...fileArgs, ...args].join(' ')}`);
    try {
      return await exec('docker', ['buildx', 'bake', ...fileArgs, ...args], {
        cwd: root,
        captureStdout: true,
        silent: true,
        stdin: 'ignore',
      });
    } catch (err: unknown) {
      if (err instanceof CommandNotFound) {
        throw new UserError('docker is not installed: `bake-file` is read with docker buildx bake --print.');
      }
      throw err;
    }
  };
  let r = await run(['--print']);
  if (r.exitCode !== 0) {
    // No default group: list the targets, then print them all.
    const list = await run(['--list', 'type=targets,format=json']);
    if (list.exitCode !== 0) {
      throw new UserError(`docker buildx bake --print ${files.join(' ')} failed: ${r.lastStderrLine}`);
    }
    const targets = (JSON.parse(list.stdout) as Array<{ name?: string; group?: boolean }>)
      .filter((t) => !t.group && t.name)
      .map((t) => t.name as string);
    r = await run(['--print', ...targets]);
    if (r.exitCode !== 0) {
      throw new UserError(`docker buildx bake --print ${files.join(' ')} failed: ${r.lastStderrLine}`);
    }
  }
  try {
    return JSON.parse(r.stdout) as unknown;
  } catch {
    throw new UserError(`docker buildx bake --print ${files.join(' ')} printed no JSON.`);
  }
}

const BakeTarget = z.looseObject({
  context: z.string().optional(),
  dockerfile: z.string().optional(),
  'dockerfile-inline': z.string().optional(),
  contexts: z.record(z.string(), z.string()).optional(),
  platforms: z.array(z.string()).optional(),
});
const BakePrint = z.looseObject({
  group: z.record(z.string(), z.looseObject({ targets: z.array(z.string()).optional() })).optional(),
  target: z.record(z.string(), BakeTarget).optional(),
});

/** The images of a bake definition as `--print` prints it. */
export function bakeImages(printed: unknown, bakeFile: string): ImageSpec[] {
  const parsed = BakePrint.safeParse(printed);
  if (!parsed.success)
    throw new UserError(`docker buildx bake --print ${bakeFile} printed an unknown shape.`);
  const targets = parsed.data.target ?? {};
  const names = parsed.data.group?.default?.targets ?? Object.keys(targets);
  return names.map((name) => {
    const t = targets[name];
    if (!t)
      throw new UserError(`${bakeFile}: the default group names target ${name}, which --print left out.`);
    const origin = `target ${name} in ${bakeFile}`;
    const rawContext = (t.context ?? '.').replace(/^cwd:\/\//, '');
    const local = isLocalContext(rawContext);
    const context = local ? repoPath(rawContext, `${origin}: context`) : rawContext;
    const inline = t['dockerfile-inline'] !== undefined;
    const dockerfile = inline
      ? ''
      : local
        ? contextPath(posix.join(context, t.dockerfile ?? 'Dockerfile'))
        : (t.dockerfile ?? '');
    const contexts: Record<string, string> = {};
    for (const [k, v] of Object.entries(t.contexts ?? {})) {
      contexts[k] = isLocalContext(v) ? repoPath(v.replace(/^cwd:\/\//, ''), `${origin}: contexts.${k}`) : v;
    }
    return {
      name,
      dir: dockerfile && local ? posix.dirname(dockerfile) : context,
      context,
      dockerfile,
      platforms: t.platforms ?? [],
      contexts,
      target: name,
      origin,
    };
  });
}
