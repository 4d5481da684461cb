import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySigV4 } from './sigv4';
import { readBody, type SessionPolicy, type StsDouble } from './sts-double';

/**
 * The authentication and authorisation MinIO adds in front of its objects, put in front of
 * s3rver (which only looks up the access key id and never checks a V4 signature or a session):
 *
 * - STS calls (`POST /` with a form body) go to the STS double, as MinIO serves STS on its S3 port.
 * - Every S3 request's Signature V4 is checked: with the platform key's secret, or, when it
 *   carries `x-amz-security-token`, with the secret of the session the STS double issued under
 *   that token. Unknown or expired sessions are refused (403 InvalidToken, 400 ExpiredToken).
 * - A session request must be allowed by the session policy it was issued with (403 AccessDenied);
 *   the platform key may do anything.
 *
 * Accepted requests go on to s3rver unchanged; every request is recorded with who signed it.
 */
export interface SeenS3Request {
  method: string;
  bucket?: string;
  key?: string;
  /** The IAM action the request needs, e.g. `s3:PutObject`. */
  action: string;
  accessKeyId?: string;
  sessionToken?: string;
  /** The status this proxy answered with, or undefined when s3rver answered. */
  refused?: { status: number; code: string };
}

export interface S3SessionProxy {
  url: string;
  requests: SeenS3Request[];
  close(): Promise<void>;
}

export async function startS3SessionProxy(opts: { target: string; platform: { accessKeyId: string; secretAccessKey: string }; sts: StsDouble }): Promise<S3SessionProxy> {
  const requests: SeenS3Request[] = [];
  const upstream = new URL(opts.target);
  const sts = new URL(opts.sts.url);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://proxy');
    if (method === 'POST' && url.pathname === '/' && /^application\/x-www-form-urlencoded\b/.test(req.headers['content-type'] ?? '')) {
      const body = await readBody(req);
      forward(req, res, { host: sts.hostname, port: sts.port }, body);
      return;
    }
    const [bucket, ...keyParts] = url.pathname.slice(1).split('/');
    // Path-style: `/bucket`, `/bucket/` (the bucket itself) or `/bucket/key…`.
    const key = keyParts.join('/') ? keyParts.map(decodeURIComponent).join('/') : undefined;
    const needs = requiredActions(method, bucket || undefined, key, url.searchParams, req.headers['x-amz-copy-source']);
    const seen: SeenS3Request = { method, action: needs[0].action, ...(bucket ? { bucket } : {}), ...(key !== undefined ? { key } : {}) };
    requests.push(seen);
    const refuse = (status: number, code: string, message: string) => {
      seen.refused = { status, code };
      req.resume();
      res.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    };

    let expired = false;
    const auth = await verifySigV4({ method, url: req.url ?? '/', headers: req.headers }, (id, token) => {
      if (token === undefined) return id === opts.platform.accessKeyId ? opts.platform.secretAccessKey : undefined;
      const session = opts.sts.sessions.get(token);
      if (!session || session.accessKeyId !== id) return undefined;
      expired = session.expiration.getTime() <= Date.now();
      return session.secretAccessKey;
    });
    if (auth.ok) {
      seen.accessKeyId = auth.accessKeyId;
      if (auth.sessionToken) seen.sessionToken = auth.sessionToken;
    }
    if (!auth.ok) return refuse(auth.status, auth.code, auth.message);
    if (expired) return refuse(400, 'ExpiredToken', 'The provided token has expired.');
    if (auth.sessionToken) {
      const policy = opts.sts.sessions.get(auth.sessionToken)?.policy;
      for (const need of needs) {
        if (!policy || !allows(policy, need.action, need.resource)) return refuse(403, 'AccessDenied', `session may not ${need.action} on ${need.resource}`);
      }
    }
    forward(req, res, { host: upstream.hostname, port: upstream.port });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends the request on unchanged (the Host header too: the signature covers it) and pipes the answer back. */
function forward(req: IncomingMessage, res: ServerResponse, to: { host: string; port: string }, body?: string) {
  const up = httpRequest({ host: to.host, port: to.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.headers);
    upRes.pipe(res);
  });
  up.on('error', () => res.destroy());
  if (body !== undefined) up.end(body);
  else req.pipe(up);
}

/** The IAM actions (and resources) an S3 REST request needs, as AWS documents them per operation. */
function requiredActions(method: string, bucket: string | undefined, key: string | undefined, q: URLSearchParams, copySource: string | string[] | undefined): { action: string; resource: string }[] {
  if (!bucket) return [{ action: 's3:ListAllMyBuckets', resource: 'arn:aws:s3:::*' }];
  const bucketArn = `arn:aws:s3:::${bucket}`;
  if (key === undefined) {
    if (method === 'PUT') return [{ action: 's3:CreateBucket', resource: bucketArn }];
    if (method === 'DELETE') return [{ action: 's3:DeleteBucket', resource: bucketArn }];
    if (method === 'POST' && q.has('delete')) return [{ action: 's3:DeleteObject', resource: `${bucketArn}/*` }];
    if (q.has('location')) return [{ action: 's3:GetBucketLocation', resource: bucketArn }];
    if (q.has('uploads')) return [{ action: 's3:ListBucketMultipartUploads', resource: bucketArn }];
    return [{ action: 's3:ListBucket', resource: bucketArn }];
  }
  const objectArn = `${bucketArn}/${key}`;
  if (method === 'GET' || method === 'HEAD') return [{ action: q.has('uploadId') ? 's3:ListMultipartUploadParts' : 's3:GetObject', resource: objectArn }];
  if (method === 'DELETE') return [{ action: q.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject', resource: objectArn }];
  const needs = [{ action: 's3:PutObject', resource: objectArn }];
  const source = Array.isArray(copySource) ? copySource[0] : copySource;
  if (method === 'PUT' && source) needs.push({ action: 's3:GetObject', resource: `arn:aws:s3:::${decodeURIComponent(source.replace(/^\//, '').split('?')[0])}` });
  return needs;
}

/** IAM evaluation of one policy: an explicit Deny wins, then any Allow; otherwise denied. */
function allows(policy: SessionPolicy, action: string, resource: string): boolean {
  const matches = (s: SessionPolicy['Statement'][number]) =>
    [s.Action].flat().some((a) => glob(a).test(action)) && [s.Resource].flat().some((r) => glob(r).test(resource));
  if (policy.Statement.some((s) => s.Effect === 'Deny' && matches(s))) return false;
  return policy.Statement.some((s) => s.Effect === 'Allow' && matches(s));
}

function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}
