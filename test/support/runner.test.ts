import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startIssuer } from './issuer';
import { Job, parseFileCommand, ROOT } from './runner';
import { mintedTokenHashes } from './secrets';
import { startStubServer } from './stub-server';

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

describe('the leak check', () => {
  it('reports a token a stub server minted and a step printed, though no step masked it', async () => {
    const server = await startStubServer();
    const minted = `oidc.${randomBytes(12).toString('hex')}.sig`;
    server.on('GET', '/idtoken', () => ({ json: { value: minted } }));
    try {
      job = new Job({});
      const r = await job.run(
        `node -e 'fetch(process.argv[1]).then((r) => r.json()).then((j) => console.log("got", j.value))' ${server.url}/idtoken`,
      );
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain(`got ${minted}`);
      expect(job.masks.has(minted)).toBe(false);
      expect(job.leakedSecrets()).toEqual([minted]);
    } finally {
      await server.close();
    }
  });

  it('reports an OIDC token the local issuer minted, and nothing that was only minted, never printed', async () => {
    const issuer = await startIssuer();
    try {
      const printed = await issuer.mint();
      const unprinted = await issuer.mint();
      job = new Job({});
      await job.run(`echo "token=${printed}"`);
      expect(job.leakedSecrets()).toEqual([printed]);
      expect(job.leakedSecrets()).not.toContain(unprinted);
    } finally {
      await issuer.stop();
    }
  });

  it('reports a token known only by its SHA-256 (the real broker logs that), as is or as a registry password', async () => {
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${part({ alg: 'ES256' })}.${part({ sub: randomBytes(8).toString('hex') })}.${randomBytes(16).toString('base64url')}`;
    mintedTokenHashes(() => [createHash('sha256').update(token).digest('hex')]);
    const auth = Buffer.from(`depot:${token}`).toString('base64');
    job = new Job({});
    await job.run(`echo "bearer ${token}"; echo '{"auths":{"cache":{"auth":"${auth}"}}}'`);
    expect(job.leakedSecrets().sort()).toEqual([token, auth].sort());
  });
});
