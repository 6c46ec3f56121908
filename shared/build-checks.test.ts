import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { githubContext } from '../test/support/github-context';
import {
  BUILD_CHECKS_ENV,
  bakeDockerfiles,
  buildDockerfiles,
  checkCompleteLine,
  reportBuildChecks,
} from './build-checks';
import type { BuildCheckAnnotation, DockerfileSource } from './build-checks';
import { UserError } from './errors';

const FIXTURES = join(__dirname, '../test/support/fixtures/build-checks');
const github = githubContext();

/** A workspace holding the fixture Dockerfiles at app/Dockerfile and app/D1. */
function workspace(): string {
  const ws = mkdtempSync(join(tmpdir(), 'checks-'));
  mkdirSync(join(ws, 'app'));
  copyFileSync(join(FIXTURES, 'Dockerfile'), join(ws, 'app/Dockerfile'));
  copyFileSync(join(FIXTURES, 'D1'), join(ws, 'app/D1'));
  return ws;
}

function report(
  metadata: string,
  dockerfiles: DockerfileSource[],
  ws: string,
  opts: { call?: string; env?: NodeJS.ProcessEnv; failure?: unknown } = {},
) {
  const annotations: BuildCheckAnnotation[] = [];
  const failure = reportBuildChecks(
    {
      metadataFile: join(FIXTURES, metadata),
      call: opts.call ?? '',
      dockerfiles,
      env: opts.env ?? {},
      workspace: ws,
      annotate: (message, properties) => annotations.push({ message, properties }),
    },
    opts.failure,
  );
  return { annotations, failure };
}

const FROM_AS = {
  message:
    "FromAsCasing: 'as' and 'FROM' keywords' casing do not match\nMore info: https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
  properties: {
    title: "The 'as' keyword should match the case of the 'from' keyword",
    file: 'app/Dockerfile',
    startLine: 1,
    endLine: 1,
  },
};
const MAINTAINER = {
  message:
    'MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label\nMore info: https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/',
  properties: {
    title: 'The MAINTAINER instruction is deprecated, use a label instead to define an image author',
    file: 'app/Dockerfile',
    startLine: 2,
    endLine: 2,
  },
};

describe('build-check warnings become annotations on the Dockerfile lines', () => {
  it('sets BUILDX_METADATA_WARNINGS for the build, as docker does', () => {
    expect(BUILD_CHECKS_ENV).toEqual({ BUILDX_METADATA_WARNINGS: 'true' });
  });

  it('a local Dockerfile: path relative to the workspace, title, rule, lines', () => {
    const ws = workspace();
    const { annotations, failure } = report(
      'build-warnings.metadata.json',
      buildDockerfiles(join(ws, 'app'), '', github, ws),
      ws,
    );
    expect(annotations).toEqual([FROM_AS, MAINTAINER]);
    expect(failure).toBeUndefined();
  });

  it('`file` relative to the working directory', () => {
    const ws = workspace();
    const dockerfiles = buildDockerfiles('.', 'app/Dockerfile', github, ws);
    expect(report('build-warnings.metadata.json', dockerfiles, ws).annotations).toHaveLength(2);
  });

  it('DOCKER_BUILD_CHECKS_ANNOTATIONS=false turns them off', () => {
    const ws = workspace();
    const dockerfiles = buildDockerfiles(join(ws, 'app'), '', github, ws);
    for (const off of ['false', '0']) {
      const r = report('build-warnings.metadata.json', dockerfiles, ws, {
        env: { DOCKER_BUILD_CHECKS_ANNOTATIONS: off },
      });
      expect(r.annotations).toEqual([]);
    }
    const on = report('build-warnings.metadata.json', dockerfiles, ws, {
      env: { DOCKER_BUILD_CHECKS_ANNOTATIONS: 'true' },
    });
    expect(on.annotations).toHaveLength(2);
  });

  it('a Dockerfile whose text differs from what BuildKit read, or outside the workspace, is not annotated', () => {
    const ws = workspace();
    writeFileSync(join(ws, 'app/Dockerfile'), 'FROM alpine\n');
    expect(
      report('build-warnings.metadata.json', buildDockerfiles(join(ws, 'app'), '', github, ws), ws)
        .annotations,
    ).toEqual([]);
    const other = workspace();
    expect(
      report('build-warnings.metadata.json', buildDockerfiles(join(other, 'app'), '', github, other), ws)
        .annotations,
    ).toEqual([]);
  });

  it("this repository's git context (either form): the path in the repository, its subdirectory included", () => {
    const ws = workspace();
    for (const context of [
      'https://github.com/acme/web.git#abc123:app',
      'https://github.com/acme/web.git?ref=abc123&subdir=app',
    ]) {
      const dockerfiles = buildDockerfiles(context, '', github, ws);
      expect(dockerfiles).toEqual([{ path: 'app/Dockerfile', remote: true }]);
      expect(report('build-warnings.metadata.json', dockerfiles, ws).annotations).toEqual([
        FROM_AS,
        MAINTAINER,
      ]);
    }
    expect(buildDockerfiles('https://github.com/mallory/web.git#abc123', '', github, ws)).toEqual([]);
  });

  it("bake: the definition's targets, the warnings at the metadata's top level", () => {
    const ws = workspace();
    const definition = {
      target: { a: { context: 'app', dockerfile: 'Dockerfile' }, b: { context: 'app', dockerfile: 'D1' } },
    };
    const dockerfiles = bakeDockerfiles(definition, { source: '', workdir: ws, github });
    const { annotations } = report('bake-warnings.metadata.json', dockerfiles, ws);
    expect(annotations.map((a) => [a.properties.file, a.properties.startLine]).sort()).toEqual([
      ['app/D1', 1],
      ['app/Dockerfile', 1],
      ['app/Dockerfile', 2],
    ]);
    // A remote source of this repository: paths in the repository.
    expect(
      bakeDockerfiles(definition, {
        source: 'https://github.com/acme/web.git?ref=abc123',
        workdir: ws,
        github,
      }),
    ).toEqual([
      { path: 'app/Dockerfile', remote: true },
      { path: 'app/D1', remote: true },
    ]);
  });
});

describe('a failed `call: check`', () => {
  it('fails with buildx\'s "Check complete" line and annotates each warning', () => {
    const ws = workspace();
    const { annotations, failure } = report(
      'check.metadata.json',
      buildDockerfiles(join(ws, 'app'), '', github, ws),
      ws,
      { call: 'check', failure: new UserError('depot build failed with: exit code 1') },
    );
    expect(failure).toBeInstanceOf(UserError);
    expect((failure as Error).message).toBe('Check complete, 2 warnings have been found!');
    expect(annotations).toEqual([FROM_AS, MAINTAINER]);
  });

  it("bake: each target's result, counted together, each warning annotated", () => {
    const ws = workspace();
    const definition = {
      target: { a: { context: 'app', dockerfile: 'Dockerfile' }, b: { context: 'app', dockerfile: 'D1' } },
    };
    const { annotations, failure } = report(
      'bake-check.metadata.json',
      bakeDockerfiles(definition, { source: '', workdir: ws, github }),
      ws,
      { call: 'check', failure: new UserError('depot bake failed with: exit code 1') },
    );
    expect((failure as Error).message).toBe('Check complete, 3 warnings have been found!');
    expect(annotations.map((a) => `${a.properties.file}:${a.properties.startLine}`).sort()).toEqual([
      'app/D1:1',
      'app/Dockerfile:1',
      'app/Dockerfile:2',
    ]);
  });

  it("a check that could not run says the check's error", () => {
    const ws = workspace();
    const { failure } = report('check-error.metadata.json', [], ws, {
      call: 'check',
      failure: new UserError('depot build failed with: exit code 1'),
    });
    expect((failure as Error).message).toBe(
      'Check failed with: dockerfile parse error on line 2: unknown instruction: FOO (did you mean FROM?)',
    );
  });

  it('any other failure is left as it came', () => {
    const ws = workspace();
    const original = new UserError('depot build failed with: boom');
    expect(report('build-warnings.metadata.json', [], ws, { failure: original }).failure).toBe(original);
    expect(report('missing.json', [], ws, { call: 'check', failure: original }).failure).toBe(original);
  });

  it('words the count as buildx does', () => {
    expect(checkCompleteLine(0)).toBe('Check complete, no warnings found.');
    expect(checkCompleteLine(1)).toBe('Check complete, 1 warning has been found!');
    expect(checkCompleteLine(3)).toBe('Check complete, 3 warnings have been found!');
  });
});
