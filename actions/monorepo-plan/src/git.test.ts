import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commit, git, GIT_ENV, RepoFactory } from './fixture-repo';
import { Git, parseNameStatus, redact } from './git';

const repos = new RepoFactory();
afterAll(() => repos.cleanup());

describe('git output', () => {
  it('reads --name-status -z with renames, copies and odd names', () => {
    const out = [
      'M',
      'a b.txt',
      'R087',
      'old/x',
      'new/x',
      'D',
      'gone',
      'C100',
      'src',
      'copy',
      'A',
      'né\tw',
      '',
    ].join('\0');
    expect(parseNameStatus(out)).toEqual([
      { status: 'M', path: 'a b.txt' },
      { status: 'R', path: 'new/x', from: 'old/x' },
      { status: 'D', path: 'gone' },
      { status: 'C', path: 'copy', from: 'src' },
      { status: 'A', path: 'né\tw' },
    ]);
  });

  it('never shows the credentials of a remote URL', () => {
    expect(
      redact("fatal: unable to access 'https://x-access-token:ghs_abc@github.com/acme/mono/': 403"),
    ).toBe("fatal: unable to access 'https://***@github.com/acme/mono/': 403");
  });
});

describe('Git.reach', () => {
  it('deepens a checkout that is already deeper than the first step without cutting its history', async () => {
    const r = await repos.repo();
    for (let i = 0; i < 60; i++) await commit(r.work, { 'docs/n.txt': `${i}\n` }, `doc ${i}`);
    await git(r.work, 'push', '-q', 'origin', 'main');
    const clone = join(r.dir, 'deep');
    await git(r.dir, 'clone', '-q', '--depth', '30', `file://${r.origin}`, clone);
    const g = new Git(clone, GIT_ENV);
    const head = await git(clone, 'rev-parse', 'HEAD');
    const near = await git(r.work, 'rev-parse', 'HEAD~20');
    expect(await g.reach(near, head, true)).toBeUndefined();
    expect(await git(clone, 'rev-list', '--count', 'HEAD')).toBe('30');
    expect(await g.reach(r.first, head, true)).toBeUndefined();
    expect(await g.mergeBase(r.first, head)).toBe(r.first);
    expect(Number(await git(clone, 'rev-list', '--count', 'HEAD'))).toBeGreaterThan(30);
  });
});
