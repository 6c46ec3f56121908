import { describe, expect, it } from 'vitest';
import { contextPath, copySources, sourceReads } from './dockerfile';

const kinds = (text: string) => copySources(text).map((s) => [s.instruction, s.kind, s.path]);

describe('copySources', () => {
  it('reads COPY and ADD sources, the destination left out, paths relative to the context', () => {
    const text = [
      'FROM 127.0.0.1:5000/busybox:latest',
      'COPY shared/ /opt/shared/',
      'copy ./services/web/app.js /app/app.js',
      'ADD /etc-files/a.conf b.conf /etc/',
      'RUN echo COPY nothing/ /x',
    ].join('\n');
    expect(kinds(text)).toEqual([
      ['COPY', 'context', 'shared'],
      ['COPY', 'context', 'services/web/app.js'],
      ['ADD', 'context', 'etc-files/a.conf'],
      ['ADD', 'context', 'b.conf'],
    ]);
    expect(copySources(text).map((s) => s.line)).toEqual([2, 3, 4, 4]);
  });

  it('skips flags, and marks --from= sources as not the context', () => {
    const text = [
      'FROM busybox AS build',
      'COPY --chown=1000:1000 --chmod=0644 --link lib/ /lib/',
      'COPY --from=build /out/bin /bin/',
      'COPY --from="docker.io/library/alpine" /etc/os-release /x',
      'COPY --parents --exclude=*.md docs/ /docs/',
    ].join('\n');
    expect(copySources(text).map((s) => [s.kind, s.path, s.from])).toEqual([
      ['context', 'lib', undefined],
      ['from', '/out/bin', 'build'],
      ['from', '/etc/os-release', 'docker.io/library/alpine'],
      ['context', 'docs', undefined],
    ]);
  });

  it('reads the JSON-array form, line continuations and comments inside them', () => {
    const text = [
      'COPY ["my dir/a b.txt", "c.txt", "/dest/"]',
      'COPY \\',
      '  # a comment inside the instruction',
      '  one.txt \\',
      '',
      '  two/ \\',
      '  /dest/',
    ].join('\n');
    expect(kinds(text)).toEqual([
      ['COPY', 'context', 'my dir/a b.txt'],
      ['COPY', 'context', 'c.txt'],
      ['COPY', 'context', 'one.txt'],
      ['COPY', 'context', 'two'],
    ]);
  });

  it('honours the escape parser directive', () => {
    const text = ['# escape=`', 'FROM x', 'COPY a.txt `', '  b.txt C:\\dest\\'].join('\n');
    expect(kinds(text)).toEqual([
      ['COPY', 'context', 'a.txt'],
      ['COPY', 'context', 'b.txt'],
    ]);
  });

  it('skips heredoc bodies, and a heredoc source is inline', () => {
    const text = [
      'RUN <<EOF',
      'COPY not/an/instruction /x',
      'EOF',
      'COPY <<-"CONF" /etc/app.conf',
      '\tCOPY nor/this /y',
      '\tCONF',
      'COPY real.txt /z',
    ].join('\n');
    expect(kinds(text)).toEqual([
      ['COPY', 'heredoc', '<<-"CONF"'],
      ['COPY', 'context', 'real.txt'],
    ]);
  });

  it('marks URLs and git repositories remote, variables unresolved', () => {
    const text = [
      'ADD https://example.com/a.tgz /a/',
      'ADD git@github.com:moby/buildkit.git#v0.10.1 /bk',
      'ADD https://github.com/moby/buildkit.git?ref=v0.10.1 /bk2',
      'ARG APP=web',
      'COPY services/$APP/ /app/',
      'COPY ${CONFIG} /etc/',
    ].join('\n');
    expect(kinds(text)).toEqual([
      ['ADD', 'remote', 'https://example.com/a.tgz'],
      ['ADD', 'remote', 'git@github.com:moby/buildkit.git#v0.10.1'],
      ['ADD', 'remote', 'https://github.com/moby/buildkit.git?ref=v0.10.1'],
      ['COPY', 'unresolved', 'services/$APP/'],
      ['COPY', 'unresolved', '${CONFIG}'],
    ]);
  });

  it('reads the examples/monorepo Dockerfiles', async () => {
    const { readFileSync } = await import('node:fs');
    const file = (p: string) =>
      readFileSync(new URL(`../../../examples/monorepo/${p}`, import.meta.url), 'utf8');
    expect(kinds(file('services/worker/Dockerfile'))).toEqual([
      ['COPY', 'context', 'shared'],
      ['COPY', 'context', 'services/worker'],
    ]);
  });
});

describe('sourceReads', () => {
  it.each([
    ['shared', 'shared/lib.sh', true],
    ['shared', 'shared/a/b/c', true],
    ['shared', 'sharedx/lib.sh', false],
    ['shared', 'shared', true],
    ['.', 'anything/at/all', true],
    ['*.json', 'package.json', true],
    ['*.json', 'sub/package.json', false],
    ['services/*/app.js', 'services/web/app.js', true],
    ['services/*', 'services/web/deep/file', true],
    ['file?.txt', 'file1.txt', true],
    ['file[0-9].txt', 'filex.txt', false],
    ['file[^0-9].txt', 'filex.txt', true],
    ['**/*.go', 'a/b/c.go', true],
    ['a/b.txt', 'a/b.txt.bak', false],
  ])('%s reads %s: %s', (source, path, expected) => {
    expect(sourceReads(source, path)).toBe(expected);
  });

  it('normalizes paths as the builder does', () => {
    expect(contextPath('./a//b/../c/')).toBe('a/c');
    expect(contextPath('/')).toBe('.');
  });
});
