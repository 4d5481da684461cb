import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * Checks an AWS Signature Version 4 `Authorization` header the way S3 and STS do: the request is
 * signed again with the secret of the key it names (and its session token) and the signatures
 * must match. Used by the test doubles of STS and of an S3 server that knows sessions.
 */
export type SigV4Check =
  | { ok: true; accessKeyId: string; sessionToken?: string; region: string; service: string }
  | { ok: false; status: number; code: string; message: string };

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

/**
 * `secretOf` answers the secret of a key (with the session token the request carries, if any),
 * or undefined when the pair is unknown. `body` is the raw body, needed when the request has no
 * `x-amz-content-sha256` header (STS); S3 requests carry the payload hash in that header.
 */
export async function verifySigV4(
  req: { method: string; url: string; headers: IncomingHttpHeaders; body?: string },
  secretOf: (accessKeyId: string, sessionToken: string | undefined) => string | undefined,
): Promise<SigV4Check> {
  const auth = header(req.headers, 'authorization');
  const m = auth ? AUTHORIZATION.exec(auth) : null;
  if (!m) return { ok: false, status: 403, code: 'AccessDenied', message: 'missing or malformed AWS4-HMAC-SHA256 Authorization header' };
  const [, accessKeyId, shortDate, region, service, signedHeaderList, signature] = m;
  const sessionToken = header(req.headers, 'x-amz-security-token');
  const secret = secretOf(accessKeyId, sessionToken);
  if (secret === undefined) {
    return { ok: false, status: 403, code: sessionToken ? 'InvalidToken' : 'InvalidAccessKeyId', message: `unknown access key ${accessKeyId}${sessionToken ? ' with this session token' : ''}` };
  }
  const amzDate = header(req.headers, 'x-amz-date');
  const dm = amzDate ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate) : null;
  if (!dm || amzDate?.slice(0, 8) !== shortDate) return { ok: false, status: 403, code: 'AccessDenied', message: 'x-amz-date missing or not the credential scope date' };
  const signingDate = new Date(Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]));

  const signedNames = signedHeaderList.split(';');
  if (!signedNames.includes('host') || !signedNames.includes('x-amz-date')) return { ok: false, status: 403, code: 'AccessDenied', message: 'host and x-amz-date must be signed' };
  if (sessionToken && !signedNames.includes('x-amz-security-token')) return { ok: false, status: 403, code: 'AccessDenied', message: 'the session token must be signed' };
  const headers: Record<string, string> = {};
  for (const name of signedNames) {
    const value = header(req.headers, name);
    if (value === undefined) return { ok: false, status: 403, code: 'AccessDenied', message: `signed header ${name} is missing` };
    headers[name] = value;
  }
  const url = new URL(req.url, 'http://placeholder');
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const host = headers.host ?? '';
  const signer = new SignatureV4({
    service,
    region,
    credentials: { accessKeyId, secretAccessKey: secret, ...(sessionToken ? { sessionToken } : {}) },
    sha256: Sha256,
    // S3 signs the path as sent; every other service signs it URI-encoded once more.
    uriEscapePath: service !== 's3',
    // The payload hash is the signed x-amz-content-sha256 header when there is one, else the body's.
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: host.replace(/:\d+$/, ''),
      path: req.url.split('?')[0],
      query,
      headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
    },
    { signingDate },
  );
  const expected = AUTHORIZATION.exec(String(signed.headers.authorization ?? ''));
  if (!expected || expected[5] !== signedHeaderList || expected[6] !== signature) {
    return { ok: false, status: 403, code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided.' };
  }
  return { ok: true, accessKeyId, region, service, ...(sessionToken ? { sessionToken } : {}) };
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(new Uint8Array(data));
}

/** SHA-256, or HMAC-SHA256 with a key: the hash interface the signer takes. */
class Sha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData) {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}
