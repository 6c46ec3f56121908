import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Job, parseFileCommand, ROOT } from './runner';

let job: Job | undefined;
afterEach(() => job?.cleanup());

describe('file commands are read as the runner reads them', () => {
  it('reads heredoc blocks and plain lines', () => {
    const text = 'a<<ghadelimiter_1\nline 1\nline 2\nghadelimiter_1\nb=plain=value\n';
    expect(parseFileCommand(text)).toEqual({ a: 'line 1\nline 2', b: 'plain=value' });
  });

  it('refuses an unterminated block', () => {
    expect(() => parseFileCommand('a<<EOF\nx\n')).toThrow('no closing delimiter for a');
  });
});

describe('composite actions', () => {
  it('substitute inputs, env and step outputs, and apply GITHUB_ENV and GITHUB_PATH between steps', async () => {
    job = new Job({});
    const r = await job.step(join(ROOT, 'test', 'support', 'fixtures', 'composite'), {
      inputs: { greeting: 'hi' },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('two sees hi and tool-on-path');
    expect(r.outputs).toEqual({ said: 'hi from composite' });
    expect(job.exported.FROM_ONE).toBe('hi');
  });
});

describe('workflow run steps', () => {
  it('see what earlier steps exported', async () => {
    job = new Job({});
    await job.step(join(ROOT, 'test', 'support', 'fixtures', 'composite'), { inputs: { greeting: 'yo' } });
    const r = await job.run('echo "run sees $FROM_ONE and $(mytool)"; false');
    expect(r.stdout).toContain('run sees yo and tool-on-path');
    expect(r.exitCode).toBe(1);
  });
});
