import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySigV4 } from './sigv4';

/**
 * A local double of the STS AssumeRole API (AWS STS, and MinIO's STS on its S3 port), at the
 * wire: `POST /` with an `application/x-www-form-urlencoded` body
 * (`Action=AssumeRole&Version=2011-06-15&RoleArn=…&RoleSessionName=…&Policy=…&DurationSeconds=…`),
 * signed with AWS Signature Version 4 (service `sts`) by the one key it knows. It answers the
 * documented `AssumeRoleResponse` XML, or an `ErrorResponse` as STS does, and keeps every session
 * it hands out, so an S3 double can check requests signed with one.
 */
export interface AssumeRoleCall {
  at: Date;
  roleArn?: string;
  roleSessionName?: string;
  /** The session policy as sent (a JSON string). */
  policy?: string;
  durationSeconds: number;
  /** The session issued, or the error code answered. */
  sessionToken?: string;
  error?: string;
}

export interface IssuedSession {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  policy?: SessionPolicy;
  roleSessionName?: string;
}

export interface SessionPolicy {
  Version?: string;
  Statement: { Effect: string; Action: string | string[]; Resource: string | string[] }[];
}

export interface StsFault {
  status: number;
  code: string;
  message: string;
}

export interface StsDouble {
  url: string;
  calls: AssumeRoleCall[];
  /** Sessions by session token. */
  sessions: Map<string, IssuedSession>;
  /** Answer every AssumeRole with this error until `heal()`. */
  fail(fault: StsFault): void;
  heal(): void;
  /**
   * Sessions from now on expire this many milliseconds after they are issued, whatever
   * DurationSeconds asked for; undefined goes back to DurationSeconds.
   */
  setLifetimeMs(ms: number | undefined): void;
  close(): Promise<void>;
}

export async function startStsDouble(opts: {
  /** The only key allowed to call AssumeRole (the platform's). */
  accessKeyId: string;
  secretAccessKey: string;
  /** Access key id of every session issued. Default: a fresh `ASIA…` id per session. */
  sessionAccessKeyId?: string;
}): Promise<StsDouble> {
  const calls: AssumeRoleCall[] = [];
  const sessions = new Map<string, IssuedSession>();
  let fault: StsFault | undefined;
  let lifetimeMs: number | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') {
      return sendError(res, 404, 'Sender', 'NotFound', `${req.method} ${req.url} is not an STS action`);
    }
    if (!/^application\/x-www-form-urlencoded\b/.test(req.headers['content-type'] ?? '')) {
      return sendError(res, 400, 'Sender', 'InvalidParameterValue', 'STS Query API bodies are application/x-www-form-urlencoded');
    }
    const auth = await verifySigV4({ method: req.method, url: req.url ?? '/', headers: req.headers, body }, (id, token) =>
      id === opts.accessKeyId && token === undefined ? opts.secretAccessKey : undefined,
    );
    if (!auth.ok) {
      const code = auth.code === 'InvalidAccessKeyId' || auth.code === 'InvalidToken' ? 'InvalidClientTokenId' : auth.code;
      return sendError(res, 403, 'Sender', code, auth.message);
    }
    if (auth.service !== 'sts') return sendError(res, 403, 'Sender', 'SignatureDoesNotMatch', `credential scope names service ${auth.service}, not sts`);

    const form = new URLSearchParams(body);
    if (form.get('Action') !== 'AssumeRole') return sendError(res, 400, 'Sender', 'InvalidAction', `Could not find operation ${form.get('Action')} for version ${form.get('Version')}`);
    if (form.get('Version') !== '2011-06-15') return sendError(res, 400, 'Sender', 'InvalidParameterValue', `Version ${form.get('Version')} is not 2011-06-15`);
    const durationText = form.get('DurationSeconds') ?? '3600';
    const durationSeconds = Number(durationText);
    const roleSessionName = form.get('RoleSessionName') ?? undefined;
    const policyText = form.get('Policy') ?? undefined;
    const call: AssumeRoleCall = {
      at: new Date(),
      durationSeconds,
      ...(form.get('RoleArn') ? { roleArn: form.get('RoleArn') as string } : {}),
      ...(roleSessionName ? { roleSessionName } : {}),
      ...(policyText !== undefined ? { policy: policyText } : {}),
    };
    calls.push(call);
    const refuse = (status: number, code: string, message: string) => {
      call.error = code;
      sendError(res, status, 'Sender', code, message);
    };
    if (!/^\d+$/.test(durationText) || durationSeconds < 900 || durationSeconds > 43200) {
      return refuse(400, 'ValidationError', `1 validation error detected: Value '${durationText}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200`);
    }
    if (roleSessionName !== undefined && !/^[\w+=,.@-]{2,64}$/.test(roleSessionName)) {
      return refuse(400, 'ValidationError', `Value '${roleSessionName}' at 'roleSessionName' failed to satisfy constraint`);
    }
    let policy: SessionPolicy | undefined;
    if (policyText !== undefined) {
      if (policyText.length > 2048) return refuse(400, 'PackedPolicyTooLarge', 'The session policy is larger than 2048 characters');
      try {
        policy = JSON.parse(policyText) as SessionPolicy;
      } catch {
        return refuse(400, 'MalformedPolicyDocument', 'The policy is not valid JSON');
      }
      if (!Array.isArray(policy.Statement) || policy.Statement.some((s) => !s.Effect || !s.Action || !s.Resource)) {
        return refuse(400, 'MalformedPolicyDocument', 'Every statement needs Effect, Action and Resource');
      }
    }
    if (fault) return refuse(fault.status, fault.code, fault.message);

    const issued: IssuedSession = {
      accessKeyId: opts.sessionAccessKeyId ?? `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(48).toString('base64url'),
      expiration: new Date(call.at.getTime() + (lifetimeMs ?? durationSeconds * 1000)),
      ...(policy ? { policy } : {}),
      ...(roleSessionName ? { roleSessionName } : {}),
    };
    sessions.set(issued.sessionToken, issued);
    call.sessionToken = issued.sessionToken;
    res.writeHead(200, { 'content-type': 'text/xml' }).end(
      `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::000000000000:assumed-role/frostbyte/${escapeXml(roleSessionName ?? 'session')}</Arn>
      <AssumedRoleId>AROA0000000000000000:${escapeXml(roleSessionName ?? 'session')}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${issued.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${escapeXml(issued.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${issued.sessionToken}</SessionToken>
      <Expiration>${issued.expiration.toISOString()}</Expiration>
    </Credentials>
    <PackedPolicySize>${policyText ? Math.ceil((policyText.length * 100) / 2048) : 0}</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>${randomBytes(16).toString('hex')}</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
`,
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'Receiver', 'InternalFailure', String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    sessions,
    fail: (f) => (fault = f),
    heal: () => (fault = undefined),
    setLifetimeMs: (ms) => (lifetimeMs = ms),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sendError(res: ServerResponse, status: number, type: 'Sender' | 'Receiver', code: string, message: string) {
  res.writeHead(status, { 'content-type': 'text/xml' }).end(
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>${type}</Type>
    <Code>${code}</Code>
    <Message>${escapeXml(message)}</Message>
  </Error>
  <RequestId>${randomBytes(16).toString('hex')}</RequestId>
</ErrorResponse>
`,
  );
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
