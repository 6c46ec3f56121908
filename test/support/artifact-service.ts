// The Actions artifact service part of the GitHub stand-in (github-api.ts starts both over one run model,
// github-runs.ts), as the real @actions/artifact 6.x talks to it from inside a bundle:
// - Twirp JSON at the root of ACTIONS_RESULTS_URL: POST /twirp/github.actions.results.api.v1.ArtifactService/<Method>
//   with snake_case fields, int64 as strings, `ok: true`; errors as Twirp's `{code, msg}` with the HTTP status.
//   The Bearer ACTIONS_RUNTIME_TOKEN is only decoded, as the client does: its `scp` claim
//   (`Actions.Results:<workflowRunBackendId>:<workflowJobRunBackendId>`) must name a run of the model, and the ids in
//   the request must be that run's.
// - Azure block blob upload to the `signed_upload_url` CreateArtifact hands out (IP-style
//   /<account>/<container>/<blob>, a `sig` checked per blob): PUT ?comp=block&blockid=..., then PUT ?comp=blocklist
//   with the XML block list, each answered 201.
// - Download as downloadArtifact (no token given) does it: ListArtifacts with an id filter, GetSignedArtifactURL for
//   the artifact's run, job and name (any job of the same run attempt may ask), then a GET of the signed read URL
//   (`sp=r`, its own `sig`), answered 200 with the zip (`application/zip`).
// Filters and wrapper fields are proto3 JSON as the client writes and reads them: `name_filter: "x"`,
// `id_filter: "123"`, `digest: "sha256:..."` (a `{value}` object is accepted in requests too).
// Failure injection: `faults.failNext('CreateArtifact' | 'FinalizeArtifact' | 'ListArtifacts' |
// 'GetSignedArtifactURL' | 'UploadBlock' | 'CommitBlockList' | 'DownloadBlob', status)`. A 4xx fails the upload at
// once; a 5xx is retried by the client (about 24-35 s); a failed blob download is retried 5 times, 5 s apart.
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { backendIdsOf, Faults } from './github-runs';
import type { GithubRuns, Run, StoredArtifact } from './github-runs';
import { mintedSecret } from './secrets';

const SERVICE = 'github.actions.results.api.v1.ArtifactService';
const ACCOUNT = 'actionsresults';
const CONTAINER = 'actions-results';

export interface ArtifactService {
  /** http://127.0.0.1:PORT/ : the runner's ACTIONS_RESULTS_URL. */
  url: string;
  faults: Faults;
  /** Every request, `METHOD path` (no query), in order. */
  requests: string[];
  close(): Promise<void>;
}

interface Blob {
  artifact: StoredArtifact;
  sig: string;
  expires: number;
  blocks: Map<string, Buffer>;
  /** The read signatures GetSignedArtifactURL handed out, with their expiry. */
  reads: Map<string, number>;
}

/** A proto3 JSON wrapper value (`"x"`), or the `{value: "x"}` form. */
function wrapped(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') {
    const inner = (v as { value?: unknown }).value;
    return inner === undefined ? undefined : String(inner);
  }
  return String(v);
}

/** Twirp's error codes by HTTP status, for injected failures. */
const TWIRP_CODE: Record<number, string> = {
  400: 'invalid_argument',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  408: 'deadline_exceeded',
  409: 'already_exists',
  412: 'failed_precondition',
  429: 'resource_exhausted',
  500: 'internal',
  501: 'unimplemented',
  503: 'unavailable',
};

class TwirpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function str(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== 'string' || v === '')
    throw new TwirpError(400, 'invalid_argument', `${field} is required`);
  return v;
}

/** A google.protobuf.Timestamp in proto3 JSON (RFC 3339), or undefined. */
function timestamp(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) {
    throw new TwirpError(400, 'invalid_argument', 'expires_at is not an RFC 3339 timestamp');
  }
  return new Date(v).toISOString();
}

export async function startArtifactService(runs: GithubRuns): Promise<ArtifactService> {
  const faults = new Faults();
  const requests: string[] = [];
  const blobs = new Map<string, Blob>();
  let base = '';

  /** The run (job) the Bearer runtime token names. */
  const tokenRun = (req: IncomingMessage): Run => {
    const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const ids = auth?.[1] ? backendIdsOf(auth[1]) : undefined;
    if (!ids)
      throw new TwirpError(401, 'unauthenticated', 'the runtime token is missing or names no results scope');
    const run = runs.runByBackendIds(ids.runId, ids.jobId);
    if (!run || run.runtimeToken !== auth?.[1]) {
      throw new TwirpError(401, 'unauthenticated', 'the runtime token is not one this service issued');
    }
    return run;
  };

  const runOf = (req: IncomingMessage, body: Record<string, unknown>): Run => {
    const run = tokenRun(req);
    if (
      str(body, 'workflow_run_backend_id') !== run.backendRunId ||
      str(body, 'workflow_job_run_backend_id') !== run.backendJobId
    ) {
      throw new TwirpError(403, 'permission_denied', 'the backend ids are not the runtime token’s');
    }
    return run;
  };

  const blobPath = (run: Run, name: string) =>
    `/${ACCOUNT}/${CONTAINER}/${run.backendRunId}/${run.backendJobId}/${encodeURIComponent(name)}.zip`;

  const twirp = (method: string, req: IncomingMessage, body: Record<string, unknown>): unknown => {
    if (method === 'GetSignedArtifactURL') return signedArtifactUrl(req, body);
    const run = runOf(req, body);
    switch (method) {
      case 'CreateArtifact': {
        const name = str(body, 'name');
        if (body.version !== 7) throw new TwirpError(400, 'invalid_argument', 'version must be 7');
        if (run.status === 'completed') {
          throw new TwirpError(412, 'failed_precondition', 'the workflow run is completed');
        }
        const artifact = runs.createArtifact(run, name, timestamp(body.expires_at));
        if (!artifact) {
          throw new TwirpError(
            409,
            'already_exists',
            'an artifact with this name already exists on the workflow run',
          );
        }
        const path = blobPath(run, name);
        const sig = randomBytes(32).toString('base64');
        mintedSecret(sig);
        const expires = Date.now() + 3600_000;
        blobs.set(path, { artifact, sig, expires, blocks: new Map(), reads: new Map() });
        const q = new URLSearchParams({
          sv: '2024-11-04',
          se: new Date(expires).toISOString(),
          sr: 'b',
          sp: 'cw',
          sig,
        });
        return { ok: true, signed_upload_url: `${base}${path}?${q}` };
      }
      case 'FinalizeArtifact': {
        const name = str(body, 'name');
        const artifact = runs.artifacts.find((a) => a.run === run && a.name === name && !a.finalized);
        if (!artifact) throw new TwirpError(404, 'not_found', `no artifact ${name} is being uploaded`);
        const size = Number(str(body, 'size'));
        if (size !== artifact.content.length) {
          throw new TwirpError(
            400,
            'invalid_argument',
            `size ${size} is not the ${artifact.content.length} bytes uploaded`,
          );
        }
        const hash = (body.hash as { value?: unknown } | undefined)?.value;
        const actual = `sha256:${createHash('sha256').update(artifact.content).digest('hex')}`;
        if (hash !== undefined && hash !== actual) {
          throw new TwirpError(400, 'invalid_argument', `hash ${String(hash)} is not the upload's ${actual}`);
        }
        artifact.size = size;
        artifact.digest = actual;
        artifact.finalized = true;
        return { ok: true, artifact_id: String(artifact.id) };
      }
      case 'ListArtifacts': {
        const nameFilter = wrapped(body.name_filter);
        const idFilter = wrapped(body.id_filter);
        const list = runs.artifacts.filter(
          (a) =>
            a.finalized &&
            a.run.backendRunId === run.backendRunId &&
            (nameFilter === undefined || a.name === nameFilter) &&
            (idFilter === undefined || String(a.id) === idFilter),
        );
        return {
          artifacts: list.map((a) => ({
            workflow_run_backend_id: a.run.backendRunId,
            workflow_job_run_backend_id: a.run.backendJobId,
            database_id: String(a.id),
            name: a.name,
            size: String(a.size),
            created_at: a.createdAt,
            ...(a.digest ? { digest: a.digest } : {}),
          })),
        };
      }
      default:
        throw new TwirpError(501, 'unimplemented', `${method} is not served by this stand-in`);
    }
  };

  /**
   * GetSignedArtifactURL: any job of the artifact's run attempt may ask, naming the artifact by the run and job that
   * uploaded it and its name; the answer is a read URL with its own signature, valid for an hour.
   */
  const signedArtifactUrl = (req: IncomingMessage, body: Record<string, unknown>): unknown => {
    const caller = tokenRun(req);
    const runId = str(body, 'workflow_run_backend_id');
    const jobId = str(body, 'workflow_job_run_backend_id');
    const name = str(body, 'name');
    if (runId !== caller.backendRunId) {
      throw new TwirpError(403, 'permission_denied', 'the artifact is not of the runtime token’s run');
    }
    const artifact = runs.artifacts.find(
      (a) => a.finalized && a.run.backendRunId === runId && a.run.backendJobId === jobId && a.name === name,
    );
    if (!artifact) throw new TwirpError(404, 'not_found', `no artifact ${name} in this run`);
    const path = blobPath(artifact.run, name);
    let entry = blobs.get(path);
    if (!entry) {
      // Stored without an upload (GithubRuns.storeArtifact): a blob with no write signature anyone holds.
      entry = {
        artifact,
        sig: randomBytes(32).toString('base64'),
        expires: 0,
        blocks: new Map(),
        reads: new Map(),
      };
      blobs.set(path, entry);
    }
    const sig = randomBytes(32).toString('base64');
    mintedSecret(sig);
    const expires = Date.now() + 3600_000;
    entry.reads.set(sig, expires);
    const q = new URLSearchParams({
      sv: '2024-11-04',
      se: new Date(expires).toISOString(),
      sr: 'b',
      sp: 'r',
      sig,
    });
    return { signed_url: `${base}${path}?${q}` };
  };

  /** A GET of a signed read URL: the committed zip. */
  const download = (res: ServerResponse, entry: Blob, url: URL) => {
    const sig = url.searchParams.get('sig') ?? '';
    const expires = entry.reads.get(sig);
    if (expires === undefined || Date.now() > expires) {
      return blobError(res, 403, 'AuthenticationFailed', 'Server failed to authenticate the request.');
    }
    const injected = faults.take('DownloadBlob');
    if (injected !== undefined)
      return blobError(res, injected, 'InjectedFailure', 'DownloadBlob failed (injected)');
    const content = entry.artifact.content;
    res.writeHead(200, {
      'content-type': 'application/zip',
      'content-length': String(content.length),
      'content-md5': createHash('md5').update(content).digest('base64'),
      'x-ms-blob-type': 'BlockBlob',
      'x-ms-request-id': randomBytes(16).toString('hex'),
      'x-ms-version': '2024-11-04',
      'last-modified': new Date().toUTCString(),
    });
    res.end(content);
  };

  const blobError = (res: ServerResponse, status: number, code: string, message: string) => {
    const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${randomBytes(8).toString('hex')}</Message></Error>`;
    res.writeHead(status, {
      'content-type': 'application/xml',
      'x-ms-error-code': code,
      'x-ms-version': '2024-11-04',
    });
    res.end(xml);
  };

  const blob = (req: IncomingMessage, res: ServerResponse, url: URL, data: Buffer) => {
    const entry = blobs.get(url.pathname);
    if (!entry) return blobError(res, 404, 'ContainerNotFound', 'The specified container does not exist.');
    if (req.method === 'GET') return download(res, entry, url);
    if (url.searchParams.get('sig') !== entry.sig || Date.now() > entry.expires) {
      return blobError(res, 403, 'AuthenticationFailed', 'Server failed to authenticate the request.');
    }
    if (req.method !== 'PUT')
      return blobError(res, 405, 'UnsupportedHttpVerb', 'The resource doesn’t support the verb.');
    const comp = url.searchParams.get('comp');
    const operation = comp === 'block' ? 'UploadBlock' : comp === 'blocklist' ? 'CommitBlockList' : 'PutBlob';
    const injected = faults.take(operation);
    if (injected !== undefined)
      return blobError(res, injected, 'InjectedFailure', `${operation} failed (injected)`);
    const ok = (extra: Record<string, string> = {}) => {
      res.writeHead(201, {
        'x-ms-request-id': randomBytes(16).toString('hex'),
        'x-ms-version': '2024-11-04',
        'x-ms-request-server-encrypted': 'true',
        date: new Date().toUTCString(),
        ...extra,
      });
      res.end();
    };
    if (comp === 'block') {
      const id = url.searchParams.get('blockid');
      if (!id) return blobError(res, 400, 'InvalidQueryParameterValue', 'blockid is required.');
      entry.blocks.set(id, data);
      return ok({ 'content-md5': createHash('md5').update(data).digest('base64') });
    }
    if (comp === 'blocklist') {
      const ids = [...data.toString('utf8').matchAll(/<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>/g)].map(
        (m) => m[2] ?? '',
      );
      const parts: Buffer[] = [];
      for (const id of ids) {
        const part = entry.blocks.get(id);
        if (!part) return blobError(res, 400, 'InvalidBlockList', 'The specified block list is invalid.');
        parts.push(part);
      }
      entry.artifact.content = Buffer.concat(parts);
      entry.blocks.clear();
      return ok({
        etag: `"0x${randomBytes(8).toString('hex').toUpperCase()}"`,
        'last-modified': new Date().toUTCString(),
      });
    }
    if (comp === null) {
      entry.artifact.content = data;
      return ok({ etag: `"0x${randomBytes(8).toString('hex').toUpperCase()}"` });
    }
    return blobError(res, 400, 'InvalidQueryParameterValue', `comp=${comp} is not served by this stand-in.`);
  };

  const server = createServer((req, res) => {
    readBody(req)
      .then((data) => {
        const url = new URL(req.url ?? '/', 'http://artifacts');
        requests.push(`${req.method ?? 'GET'} ${url.pathname}`);
        const m = new RegExp(`^/twirp/${SERVICE.replaceAll('.', '\\.')}/(\\w+)$`).exec(url.pathname);
        if (!m) return blob(req, res, url, data);
        const method = m[1] as string;
        const reply = (status: number, json: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(json));
        };
        if (req.method !== 'POST')
          return reply(404, { code: 'bad_route', msg: `no handler for ${req.method}` });
        const injected = faults.take(method);
        if (injected !== undefined) {
          return reply(injected, {
            code: TWIRP_CODE[injected] ?? 'unknown',
            msg: `${method} failed (injected)`,
          });
        }
        try {
          let body: unknown;
          try {
            body = JSON.parse(data.toString('utf8'));
          } catch {
            throw new TwirpError(400, 'malformed', 'the body is not JSON');
          }
          if (body === null || typeof body !== 'object')
            throw new TwirpError(400, 'malformed', 'not an object');
          return reply(200, twirp(method, req, body as Record<string, unknown>));
        } catch (err: unknown) {
          if (err instanceof TwirpError) return reply(err.status, { code: err.code, msg: err.message });
          throw err;
        }
      })
      .catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'internal', msg: String(err) }));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/`,
    faults,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
