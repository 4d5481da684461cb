import { env, exports } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { decodeProtectedHeader } from 'jose';
import { beforeAll, describe, expect, it, inject } from 'vitest';
import worker from '../../functions/worker/index';
import { wireServerless, type ServerlessRuntime } from '../../functions/worker/wire';
import { issueToken, type Scope } from '../../shared/auth/tokens';
import { loadServerlessSettings, stringSettings, type ServerlessSettings } from '../../shared/config/serverless';
import { silentLogger } from '../../shared/log';
import { parseDocument, PARSER_VERSION } from '../../shared/parse/parse-document';
import { runParseStep, type ParsePayload } from '../../shared/pipeline/parse-step';
import { signLikeQstash } from '../../shared/queue/signing';
import { rawKey } from '../../shared/storage/object-store';
import { createTenant } from '../../shared/tenants/tenants';
import { batchForm, manifestFor, sha256, text, type TestFile } from '../helpers/batch';

/**
 * The Worker entry (functions/worker/index.ts, wrangler.toml) inside workerd: every request goes
 * through `exports.default.fetch`, a real invocation of the Worker with the bindings from
 * tests/workers/global-setup.ts — PostgreSQL over TCP (cloudflare:sockets), s3rver over fetch,
 * the QStash double over fetch. The test itself plays the parts that live elsewhere in
 * production: QStash's signed deliveries, and the Node/Lambda runtime that parses.
 */
interface Published {
  destination: string;
  body: string;
  messageId: string;
}

const BASE = 'https://frostbyte.test';
let settings: ServerlessSettings;
let rt: ServerlessRuntime;
let tenant: string;
let otherTenant: string;

const call = (path: string, init: RequestInit = {}) => exports.default.fetch(`${BASE}${path}`, init);
const auth = (token: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra });
const uniqueId = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

async function token(tenantId: string | null, scopes: Scope[]) {
  const issued = await issueToken(rt.services.keys, rt.services.clock, rt.services.tokens, { sub: 'workers-test', tenantId, scopes, ttlSeconds: 600 });
  return issued.token;
}

/** What the QStash double has received so far (its publish API is real HTTP from the Worker). */
async function published(): Promise<Published[]> {
  return (await (await fetch(inject('qstashPublishedUrl'))).json()) as Published[];
}

async function waitForPublished(match: (p: Published) => boolean, count: number, timeoutMs = 10_000): Promise<Published[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = (await published()).filter(match);
    if (found.length >= count) return found;
    if (Date.now() > until) throw new Error(`expected ${count} matching publishes, saw ${found.length}: ${JSON.stringify(await published())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Delivers a message to the Worker the way QStash does: signed for `url`, retry count in a header. */
async function deliver(topic: string, body: string, opts: { signedFor?: string; key?: string } = {}) {
  const url = opts.signedFor ?? `${settings.env.PUBLIC_URL}/steps/${topic}`;
  const signature = await signLikeQstash(opts.key ?? settings.env.QSTASH_CURRENT_SIGNING_KEY ?? '', url, body, new Date());
  return call(`/steps/${topic}`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'upstash-signature': signature, 'upstash-message-id': 'msg_test', 'upstash-retried': '0' } });
}

beforeAll(async () => {
  expect(navigator.userAgent).toBe('Cloudflare-Workers');
  settings = loadServerlessSettings(stringSettings(env), 'workers');
  // The test's own handle on the same databases and buckets, wired exactly as the Worker wires them.
  rt = await wireServerless(settings, { log: silentLogger, ownStepsBaseUrl: settings.env.PUBLIC_URL ?? '', poolSize: { control: 2, tenant: 2 }, endConnections: false });
  // Provisioning's health step calls the tenant health route at PUBLIC_URL, where nothing listens
  // here: the request goes to this Worker's own fetch handler instead, through the real route.
  rt.services.healthFetch = (url, init) => exports.default.fetch(url, init);
  tenant = uniqueId('wk');
  otherTenant = uniqueId('wko');
  await createTenant(rt.services, { tenantId: tenant, actor: 'workers-test' });
  await createTenant(rt.services, { tenantId: otherTenant, actor: 'workers-test' });
});

describe('Worker: health', () => {
  it('answers /health and checks PostgreSQL and S3 in /health/ready', async () => {
    const res = await call('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'healthy' });

    const ready = await call('/api/v1/health/ready');
    const body = (await ready.json()) as { status: string; checks: Record<string, { status: string }> };
    expect(ready.status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.checks.database.status).toBe('ok');
    expect(body.checks.storage.status).toBe('ok');
    expect(body.checks.scanner.status).toBe('not_configured');
  });
});

describe('Worker: auth', () => {
  it('verifies tokens against the platform JWKS it serves, and scopes them to one tenant', async () => {
    const ingest = await token(tenant, ['ingest']);
    const { kid } = decodeProtectedHeader(ingest);
    const jwks = (await (await call('/.well-known/jwks.json')).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(kid);

    const missing = await call(`/api/v1/ingest/${tenant}/batch/b-none`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect(await missing.json()).toMatchObject({ code: 'AUTHENTICATION_REQUIRED' });

    const forged = `${ingest.slice(0, -4)}AAAA`;
    expect((await call(`/api/v1/ingest/${tenant}/batch/b-none`, { headers: auth(forged) })).status).toBe(401);

    const elsewhere = await call(`/api/v1/ingest/${otherTenant}/batch/b-none`, { headers: auth(ingest) });
    expect(elsewhere.status).toBe(403);
    expect(await elsewhere.json()).toMatchObject({ code: 'TENANT_MISMATCH' });

    const unknown = await call(`/api/v1/ingest/${tenant}/batch/b-none`, { headers: auth(ingest) });
    expect(unknown.status).toBe(404);
  });
});

describe('Worker: a batch from intake to indexed', () => {
  it('streams a batch to S3, chains it through QStash to the parse runtime and back, and records the audit chain', async () => {
    const ingest = await token(tenant, ['ingest', 'query']);
    const batchId = uniqueId('batch');
    const files: TestFile[] = [
      { file_id: 'f-1', filename: 'terms.txt', mime_type: 'text/plain', bytes: text('Payment is due within 30 days of the invoice date.\n\nLate payments accrue 1% interest per month.') },
      { file_id: 'f-2', filename: 'notice.txt', mime_type: 'text/plain', bytes: text('Either party may terminate with 90 days written notice.') },
    ];
    // Sent as a stream without Content-Length: the Worker must consume it part by part.
    const form = new Response(batchForm(manifestFor(tenant, batchId, files), files));
    const submitted = await call(`/api/v1/ingest/${tenant}/batch`, {
      method: 'POST', body: form.body, headers: auth(ingest, { 'content-type': form.headers.get('content-type') ?? '' }),
    });
    const receipt = (await submitted.json()) as { accepted: number; receipts: { file_id: string; status: string }[] };
    expect(submitted.status).toBe(202);
    expect(receipt.accepted).toBe(2);

    // Rows in the tenant's own PostgreSQL database, bytes in its bucket on s3rver.
    const plane = await rt.services.planes.forTenant(tenant);
    const rows = await plane.db.select().from(plane.tables.files).where(eq(plane.tables.files.batchId, batchId));
    expect(rows.map((r) => [r.fileId, r.status, r.sha256]).sort()).toEqual(files.map((f) => [f.file_id, 'received', sha256(f.bytes)]).sort());
    for (const f of files) {
      const stored = await plane.store.getBytes(rawKey(tenant, f.file_id, sha256(f.bytes)));
      expect(stored && new TextDecoder().decode(stored)).toBe(new TextDecoder().decode(f.bytes));
    }

    const status = await call(`/api/v1/ingest/${tenant}/batch/${batchId}`, { headers: auth(ingest) });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ batch_id: batchId, status: 'processing', summary: { total_files: 2 } });

    // After the response, the Worker handed the parse messages to QStash, addressed to the parse runtime.
    const parses = await waitForPublished((p) => p.destination === 'http://localhost:9/steps/parse' && (JSON.parse(p.body) as ParsePayload).batch_id === batchId, 2);

    // The Worker refuses a parse message signed for the parse runtime (not its URL) and cannot parse one signed for itself.
    const first = parses[0];
    expect((await deliver('parse', first.body, { signedFor: first.destination })).status).toBe(401);
    const misrouted = await deliver('parse', first.body);
    expect(misrouted.status).toBe(503);
    expect(misrouted.headers.get('retry-after')).toBeTruthy();

    // Play the parse runtime (Node/Lambda): the same parse step, with a parser, writes the canonical JSON and the index message.
    const parsing = { ...rt.services, parser: { version: PARSER_VERSION, parse: (bytes: Uint8Array, meta: { docId: string; sha256: string; mime: string }) => parseDocument(bytes, meta) } };
    for (const p of parses) {
      const payload = JSON.parse(p.body) as ParsePayload;
      expect(await runParseStep(parsing, plane, payload, { attempt: 1, messageId: p.messageId })).toEqual({ status: 'done' });
    }

    // The cron sweep relays the index messages to QStash, addressed back to the Worker.
    await exports.default.scheduled({ cron: '* * * * *' });
    const indexes = await waitForPublished((p) => p.destination === `${settings.env.PUBLIC_URL}/steps/index` && (JSON.parse(p.body) as ParsePayload).batch_id === batchId, 2);

    expect((await deliver('index', indexes[0].body, { key: 'sig_not_the_key' })).status).toBe(401);
    for (const m of indexes) {
      const res = await deliver('index', m.body);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'done' });
    }
    // A redelivery of finished work is acknowledged and does nothing.
    expect(await (await deliver('index', indexes[0].body)).json()).toEqual({ status: 'already_done' });

    const done = (await (await call(`/api/v1/ingest/${tenant}/batch/${batchId}`, { headers: auth(ingest) })).json()) as { status: string; files: { status: string }[] };
    expect(done.status).toBe('completed');
    expect(done.files.map((f) => f.status)).toEqual(['indexed', 'indexed']);

    // Audit, through the Worker's audit API with an audit-only token: the tenant's chain holds the
    // batch and both documents' provenance, and verifies.
    const audit = await token(tenant, ['audit']);
    const batchEvents = (await (await call(`/api/v1/audit/${tenant}/events?resource_id=${batchId}`, { headers: auth(audit) })).json()) as { events: { event_type: string }[] };
    expect(batchEvents.events.map((e) => e.event_type)).toEqual(expect.arrayContaining(['BATCH_RECEIVED', 'BATCH_COMPLETED']));
    for (const row of rows) {
      const res = await call(`/api/v1/audit/${tenant}/events?resource_id=${row.docId}`, { headers: auth(audit) });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { events: { event_type: string }[] };
      expect(page.events.map((e) => e.event_type)).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);
    }
    const verified = await call(`/api/v1/audit/${tenant}/verify`, { headers: auth(audit) });
    expect(await verified.json()).toMatchObject({ valid: true });
    // The audit token reads nothing else, and another tenant's chain holds none of it.
    expect((await call(`/api/v1/ingest/${tenant}/batch/${batchId}`, { headers: auth(audit) })).status).toBe(403);
    const other = await call(`/api/v1/audit/${otherTenant}/events?resource_id=${batchId}`, { headers: auth(await token(otherTenant, ['audit'])) });
    expect(((await other.json()) as { events: unknown[] }).events).toHaveLength(0);
  });
});

describe('Worker: request size', () => {
  it('answers an over-limit upload with 413 problem+json naming the limit and the large-file intake', async () => {
    const ingest = await token(tenant, ['ingest']);
    const big = new Uint8Array(1024 * 1024 + 1);
    const declared = await call(`/api/v1/ingest/${tenant}/batch`, {
      method: 'POST', body: big, headers: auth(ingest, { 'content-type': 'multipart/form-data; boundary=x' }),
    });
    expect(declared.status).toBe(413);
    expect(declared.headers.get('content-type')).toContain('application/problem+json');
    expect(await declared.json()).toMatchObject({
      status: 413, code: 'PAYLOAD_TOO_LARGE', max_request_bytes: 1024 * 1024, large_upload_url: 'https://intake.frostbyte.test',
    });

    // Chunked (no Content-Length): counted while streaming, and still a 413, not a 400 about a broken body.
    const batchId = uniqueId('big');
    const file: TestFile = { file_id: 'f-big', filename: 'big.txt', mime_type: 'text/plain', bytes: text('x'.repeat(1024 * 1024 + 10)) };
    const form = new Response(batchForm(manifestFor(tenant, batchId, [file]), [file]));
    const streamed = await call(`/api/v1/ingest/${tenant}/batch`, {
      method: 'POST', body: form.body, headers: auth(ingest, { 'content-type': form.headers.get('content-type') ?? '' }),
    });
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    // Nothing of it was kept.
    const plane = await rt.services.planes.forTenant(tenant);
    expect(await plane.db.select().from(plane.tables.batches).where(eq(plane.tables.batches.batchId, batchId))).toHaveLength(0);
    expect(await plane.store.list(`raw/${tenant}/f-big/`)).toEqual([]);
  });
});

describe('Worker: control-plane connection', () => {
  it('reaches the control plane through the HYPERDRIVE binding when there is one', async () => {
    // Hyperdrive hands the Worker a connection string; here it points straight at the control database.
    // (A refused connection is not tried here: postgres.js's Workers build leaves that rejection unhandled.)
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} };
    const res = await worker.fetch(new Request(`${BASE}/api/v1/health/ready`), { ...env, HYPERDRIVE: { connectionString: settings.databaseUrl } }, ctx);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ checks: { database: { status: 'ok' } } });
  });
});

describe('Worker: start-up refusals', () => {
  it('answers 500 problem+json naming what a Worker cannot run without', async () => {
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} };
    const bindings = { PUBLIC_URL: 'https://frostbyte.test', CLAMD_HOST: 'clamd.internal', S3_REGION: 'us-east-1' };
    const res = await worker.fetch(new Request(`${BASE}/health`), bindings, ctx);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const body = (await res.json()) as { code: string; errors: { field: string; message: string }[] };
    expect(body.code).toBe('CONFIGURATION_INVALID');
    const fields = body.errors.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['DATABASE_URL', 'S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'QSTASH_TOKEN', 'STEP_BASE_URLS', 'CLAMD_HOST']));
    expect(body.errors.find((e) => e.field === 'DATABASE_URL')?.message).toMatch(/PGlite/);
  });
});
