import { eq } from 'drizzle-orm';
import type { LambdaEvent } from 'hono/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLambdaHandlers } from '../functions/lambda/index';
import { listEvents } from '../shared/audit';
import { silentLogger } from '../shared/log';
import { signLikeQstash } from '../shared/queue/signing';
import { startQstashDouble } from './doubles/qstash/qstash-double';
import { s3Settings } from './harness/services';
import { batchForm, manifestFor, text, type TestFile } from './helpers/batch';
import { startRuntime, type TestRuntime } from './helpers/runtime';

/**
 * The Lambda entry (functions/lambda/index.ts) invoked the way API Gateway v2 and function URLs
 * invoke it: synthetic payload-format-2.0 events in, APIGatewayProxyResult out, against the real
 * PostgreSQL server, s3rver and the QStash publish-API double. The API function relays the parse
 * messages to the parse function's URL; the parse function (with the worker-thread parser)
 * answers the signed delivery and relays the index message back to the API.
 */
type ApiEventV2 = Extract<LambdaEvent, { rawPath: string }>;

const API_DOMAIN = 'abc123.execute-api.eu-central-1.amazonaws.com';
const PARSE_DOMAIN = 'parse7x.lambda-url.eu-central-1.on.aws';
const keys = { token: 'qstash-lambda-token', current: 'sig_lambda_current', next: 'sig_lambda_next' };

let node: TestRuntime;
let qstash: Awaited<ReturnType<typeof startQstashDouble>>;
let env: Record<string, string>;
let api: ReturnType<typeof createLambdaHandlers>;
let parse: ReturnType<typeof createLambdaHandlers>;
let tenant: string;
let token: string;

function event(method: string, path: string, opts: { domain?: string; headers?: Record<string, string>; body?: Uint8Array | string } = {}): ApiEventV2 {
  const domain = opts.domain ?? API_DOMAIN;
  const [rawPath, rawQueryString = ''] = path.split('?');
  const body = opts.body === undefined ? null : Buffer.from(opts.body).toString('base64');
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: { host: domain, 'user-agent': 'vitest', ...opts.headers },
    requestContext: {
      accountId: '123456789012', apiId: domain.split('.')[0], authentication: null, authorizer: {}, domainName: domain, domainPrefix: domain.split('.')[0],
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: `req-${Math.random().toString(36).slice(2)}`, routeKey: '$default', stage: '$default', time: now.toUTCString(), timeEpoch: now.getTime(),
    },
    body,
    isBase64Encoded: body !== null,
  };
}

const json = <T>(result: { body: string; isBase64Encoded: boolean }): T =>
  JSON.parse(result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body) as T;

async function deliver(handlers: ReturnType<typeof createLambdaHandlers>, domain: string, topic: string, body: string) {
  const url = `https://${domain}/steps/${topic}`;
  const signature = await signLikeQstash(keys.current, url, body, new Date());
  return handlers.http(event('POST', `/steps/${topic}`, { domain, body, headers: { 'content-type': 'application/json', 'upstash-signature': signature, 'upstash-retried': '0', 'upstash-message-id': 'msg_lambda' } }));
}

async function waitForPublished(destination: string, count: number) {
  const until = Date.now() + 10_000;
  for (;;) {
    const found = qstash.published.filter((p) => p.destination === destination);
    if (found.length >= count) return found;
    if (Date.now() > until) throw new Error(`expected ${count} publishes to ${destination}, saw ${JSON.stringify(qstash.published.map((p) => p.destination))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  qstash = await startQstashDouble({ token: keys.token, currentSigningKey: keys.current, retryDelayMs: 5 });
  const s3 = s3Settings();
  const shared = {
    S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey, S3_BUCKET_PREFIX: `fbl-${process.pid}-`,
    QSTASH_URL: qstash.url, QSTASH_TOKEN: keys.token, QSTASH_CURRENT_SIGNING_KEY: keys.current, QSTASH_NEXT_SIGNING_KEY: keys.next,
  };
  // A Node runtime on a fresh database of the PostgreSQL server makes the tenant and its tokens.
  node = await startRuntime('postgres', shared);
  tenant = await node.tenant('lam');
  token = await node.token(tenant, ['ingest', 'query']);
  env = {
    ...shared,
    DATABASE_URL: node.services.env.DATABASE_URL ?? '',
    TENANT_DATABASE_PREFIX: node.services.env.TENANT_DATABASE_PREFIX,
    PUBLIC_URL: `https://${API_DOMAIN}`,
    STEP_BASE_URLS: `parse=https://${PARSE_DOMAIN}`,
    LOG_LEVEL: 'error',
  };
  api = createLambdaHandlers(env, { log: silentLogger });
  // Same settings: the parse function learns its own URL from the function-URL events it receives.
  parse = createLambdaHandlers(env, { parser: true, ownFunctionUrl: true, log: silentLogger });
});

afterAll(async () => {
  await qstash?.idle();
  await api?.close();
  await parse?.close();
  await node?.close();
  await qstash?.close();
});

describe('Lambda handler (API Gateway v2 events)', () => {
  it('answers /health', async () => {
    const res = await api.http(event('GET', '/health'));
    expect(res.statusCode).toBe(200);
    expect(json<{ status: string }>(res)).toMatchObject({ status: 'healthy' });
  });

  it('takes a batch, reports its status, and runs the parse step on the parse function', async () => {
    const batchId = `lb-${Date.now().toString(36)}`;
    const files: TestFile[] = [{ file_id: 'f-1', filename: 'terms.txt', mime_type: 'text/plain', bytes: text('Invoices are payable within 30 days.\n\nDisputes go to arbitration.') }];
    const form = new Response(batchForm(manifestFor(tenant, batchId, files), files));
    const body = new Uint8Array(await form.arrayBuffer());
    const submitted = await api.http(event('POST', `/api/v1/ingest/${tenant}/batch`, {
      body, headers: { authorization: `Bearer ${token}`, 'content-type': form.headers.get('content-type') ?? '', 'content-length': String(body.byteLength) },
    }));
    expect(submitted.statusCode).toBe(202);
    expect(json<{ accepted: number }>(submitted).accepted).toBe(1);

    const status = await api.http(event('GET', `/api/v1/ingest/${tenant}/batch/${batchId}`, { headers: { authorization: `Bearer ${token}` } }));
    expect(status.statusCode).toBe(200);
    expect(json<{ status: string; files: { status: string }[] }>(status)).toMatchObject({ status: 'processing', files: [{ status: 'received' }] });

    // Relayed before the handler returned, to the parse function's URL.
    const [parseMessage] = await waitForPublished(`https://${PARSE_DOMAIN}/steps/parse`, 1);
    const parsed = await deliver(parse, PARSE_DOMAIN, 'parse', parseMessage.body);
    expect(parsed.statusCode).toBe(200);
    expect(json(parsed)).toEqual({ status: 'done' });

    // The parse function relayed the index message back to the API before returning; the API indexes it.
    const [indexMessage] = await waitForPublished(`https://${API_DOMAIN}/steps/index`, 1);
    const indexed = await deliver(api, API_DOMAIN, 'index', indexMessage.body);
    expect(json(indexed)).toEqual({ status: 'done' });

    const done = await api.http(event('GET', `/api/v1/ingest/${tenant}/batch/${batchId}`, { headers: { authorization: `Bearer ${token}` } }));
    expect(json<{ status: string }>(done).status).toBe('completed');

    // A delivery signed for another URL is refused.
    expect((await deliver(api, 'elsewhere.example.com', 'index', indexMessage.body)).statusCode).toBe(401);

    // The scheduled sweep chains the recorded audit events.
    expect(await api.scheduled({ job: 'outbox-sweep' })).toEqual({ job: 'outbox-sweep', done: true });
    const plane = await node.services.planes.forTenant(tenant);
    const [file] = await plane.db.select().from(plane.tables.files).where(eq(plane.tables.files.batchId, batchId));
    const events = await listEvents(node.services.control, tenant, { resource_id: file.docId });
    expect(events.events.map((e) => e.event_type)).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);
  });

  it('answers an over-limit body with 413 problem+json naming the large-file intake', async () => {
    const small = createLambdaHandlers({ ...env, MAX_REQUEST_BYTES: '1000', LARGE_UPLOAD_URL: 'https://intake.frostbyte.test' }, { log: silentLogger });
    try {
      const body = new Uint8Array(2000);
      const res = await small.http(event('POST', `/api/v1/ingest/${tenant}/batch`, {
        body, headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=x', 'content-length': '2000' },
      }));
      expect(res.statusCode).toBe(413);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(json(res)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', max_request_bytes: 1000, large_upload_url: 'https://intake.frostbyte.test' });
    } finally {
      await small.close();
    }
  });

  it('refuses to start without the production settings, naming them', async () => {
    const broken = createLambdaHandlers({ PUBLIC_URL: `https://${API_DOMAIN}` }, { log: silentLogger });
    const res = await broken.http(event('GET', '/health'));
    expect(res.statusCode).toBe(500);
    const body = json<{ code: string; errors: { field: string }[] }>(res);
    expect(body.code).toBe('CONFIGURATION_INVALID');
    expect(body.errors.map((e) => e.field)).toEqual(expect.arrayContaining(['DATABASE_URL', 'S3_ENDPOINT', 'QSTASH_TOKEN']));
    await expect(broken.scheduled({ job: 'outbox-sweep' })).rejects.toThrow(/DATABASE_URL/);
  });

  it('answers 503 problem+json while the database cannot be reached', async () => {
    const url = new URL(env.DATABASE_URL);
    url.port = '9';
    const down = createLambdaHandlers({ ...env, DATABASE_URL: url.toString() }, { log: silentLogger });
    const res = await down.http(event('GET', '/health'));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('10');
    expect(json(res)).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    await down.close();
  });
});
