import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvents, recordEvent, verifyExport, type AuditEvent, type AuditEventInput, type SignedAuditManifest } from '../shared/audit';
import { parseCefEvent } from '../shared/audit/cef';
import type { ExportView } from '../shared/audit/service';
import { startPipelineDriver } from '../shared/node/pipeline-driver';
import { nodeSha256 } from '../shared/node/sha256';
import { startWebhookReceiver, type WebhookReceiver } from './doubles/webhook-receiver';
import { startRuntime, uniqueName, type DbKind, type TestRuntime } from './helpers/runtime';
import { waitFor } from './helpers/wait';

/**
 * The audit API (issue 5 items 2, 3, 5): scopes, tenant isolation, queries that see just-recorded
 * events, the rate limit, exports through the control-plane step (file + signed manifest in the
 * tenant's bucket, AUDIT_EXPORTED, the `audit.export_ready` webhook) and the live SSE feed.
 * Scheduled exports are in tests/audit-schedules.test.ts, the CLI in tests/audit-cli.test.ts.
 */


/** A document's provenance as the pipeline writes it: each step consumes what the previous one produced. */
function provenance(doc: string, hashes = ['a', 'b', 'c']): AuditEventInput[] {
  const h = (c: string) => c.repeat(64);
  return [
    { event_type: 'DOCUMENT_INGESTED', actor: 'system', resource_type: 'document', resource_id: doc, details: { component: 'intake', output_hash: h(hashes[0]), status: 'accepted' } },
    { event_type: 'DOCUMENT_PARSED', actor: 'system', resource_type: 'document', resource_id: doc, details: { component: 'parse', input_hash: h(hashes[0]), output_hash: h(hashes[1]), status: 'success' } },
    { event_type: 'DOCUMENT_INDEXED', actor: 'system', resource_type: 'document', resource_id: doc, details: { component: 'index', input_hash: h(hashes[1]), output_hash: h(hashes[2]), status: 'success' } },
  ];
}

describe.each<DbKind>(['pglite', 'postgres'])('audit API on %s', (kind) => {
  let rt: TestRuntime;
  let driver: ReturnType<typeof startPipelineDriver>;
  let receiver: WebhookReceiver;
  // Everything that is storage-neutral runs once, on PGlite; exports (transactions across both
  // planes, one database per tenant on the server) run on both.
  const onceIt = kind === 'pglite' ? it : () => {};

  beforeAll(async () => {
    [rt, receiver] = await Promise.all([
      startRuntime(kind, { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', PUBLIC_URL: 'https://audit.frostbyte.test', STEP_RETRY_BASE_MS: '50' }),
      startWebhookReceiver(),
    ]);
    // The embedded relay, without the parser pool: exports are control-plane steps.
    driver = startPipelineDriver(rt.services, { intervalMs: 200 });
  });
  afterAll(async () => {
    await driver?.stop();
    await receiver?.stop();
    await rt?.close();
  });

  const call = async (token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await rt.app.request(`/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const raw = await res.text();
    return { status: res.status, headers: res.headers, raw, body: parseJson(raw) };
  };

  const append = (tenant: string, events: AuditEventInput[]) => appendEvents(rt.services.control, tenant, events, rt.services.clock, { sha256: rt.services.sha256 });

  async function setup(base = 'aud') {
    const tenant = await rt.tenant(base);
    return { tenant, audit: await rt.token(tenant, ['audit'], { sub: 'legal-team' }), ingest: await rt.token(tenant, ['ingest', 'query']) };
  }

  async function finishedExport(token: string, tenant: string, exportId: string): Promise<ExportView> {
    const r = await waitFor(() => call(token, 'GET', `/audit/${tenant}/exports/${exportId}`), (r) => r.body?.status === 'completed' || r.body?.status === 'failed');
    return r.body as ExportView;
  }

  onceIt('lets only audit tokens in, and audit tokens nowhere else', async () => {
    const t = await setup();
    const query = await rt.token(t.tenant, ['query']);
    for (const token of [t.ingest, query]) {
      const r = await call(token, 'GET', `/audit/${t.tenant}/events`);
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('INSUFFICIENT_PERMISSIONS');
      expect(r.headers.get('content-type')).toContain('application/problem+json');
    }
    expect((await call(t.audit, 'GET', `/audit/${t.tenant}/events`)).status).toBe(200);
    const elsewhere: [string, string, unknown?][] = [
      ['GET', `/ingest/${t.tenant}/batch/nothing`],
      ['GET', `/ingest/${t.tenant}/receipt/rcp_x`],
      ['POST', `/query/${t.tenant}/search`, { query_text: 'contract' }],
      ['GET', `/query/${t.tenant}/document/doc_x`],
      ['GET', `/webhooks/${t.tenant}/endpoints`],
      ['GET', '/admin/tenants'],
      ['GET', `/admin/tenants/${t.tenant}/audit-schedules`],
    ];
    for (const [method, path, body] of elsewhere) {
      const r = await call(t.audit, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    expect((await call(t.audit, 'POST', `/ingest/${t.tenant}/batch`, {})).status).toBe(403);
    // Another tenant's path with this tenant's audit token.
    const other = await setup('oth');
    expect((await call(t.audit, 'GET', `/audit/${other.tenant}/events`)).body.code).toBe('TENANT_MISMATCH');
    expect((await call('not-a-jwt', 'GET', `/audit/${t.tenant}/events`)).status).toBe(401);
  });

  onceIt('lists, filters and pages events, and sees events recorded a moment ago', async () => {
    const t = await setup();
    const docs = [uniqueName('doc_a'), uniqueName('doc_b')];
    await append(t.tenant, [...provenance(docs[0]), ...provenance(docs[1])]);
    // Recorded in the data plane (as a pipeline step does) and not yet chained by any sweep.
    const plane = await rt.services.planes.forTenant(t.tenant);
    await plane.db.transaction((tx) =>
      recordEvent(tx, plane.tables, { event_type: 'RETRIEVAL_EXECUTED', actor: 'analyst', resource_type: 'query', resource_id: 'qry_1', details: { component: 'retrieval', result_count: 3 } }, rt.services.clock),
    );

    const all = await call(t.audit, 'GET', `/audit/${t.tenant}/events?limit=1000`);
    expect(all.status).toBe(200);
    const events = all.body.events as AuditEvent[];
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)?.event_type).toBe('RETRIEVAL_EXECUTED');
    expect(events.every((e) => e.tenant_id === t.tenant)).toBe(true);

    const byDoc = await call(t.audit, 'GET', `/audit/${t.tenant}/events?resource_id=${docs[1]}`);
    expect((byDoc.body.events as AuditEvent[]).map((e) => e.event_type)).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);
    const byType = await call(t.audit, 'GET', `/audit/${t.tenant}/events?event_type=DOCUMENT_PARSED`);
    expect((byType.body.events as AuditEvent[]).map((e) => e.resource_id)).toEqual(docs);

    // Cursor paging: pages of 2 in seq order, nothing skipped or repeated.
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof call>> = await call(t.audit, 'GET', `/audit/${t.tenant}/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...(page.body.events as AuditEvent[]).map((e) => e.seq));
      cursor = page.body.next_cursor as string | null;
      expect(page.body.has_more).toBe(cursor !== null);
    } while (cursor);
    expect(seen).toEqual(events.map((e) => e.seq));

    // Time range: from inclusive, to exclusive.
    const mid = events[3].timestamp;
    const after = await call(t.audit, 'GET', `/audit/${t.tenant}/events?from=${encodeURIComponent(mid)}&limit=1000`);
    expect((after.body.events as AuditEvent[]).every((e) => e.timestamp >= mid)).toBe(true);
    const before = await call(t.audit, 'GET', `/audit/${t.tenant}/events?to=${encodeURIComponent(mid)}&limit=1000`);
    expect((before.body.events as AuditEvent[]).every((e) => e.timestamp < mid)).toBe(true);

    for (const bad of ['limit=1001', 'limit=0', 'limit=ten', 'from=yesterday', 'event_type=DOCUMENT_EATEN', 'cursor=abc']) {
      const r = await call(t.audit, 'GET', `/audit/${t.tenant}/events?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.code).toBe('VALIDATION_FAILED');
      expect(r.body.errors.length).toBeGreaterThan(0);
    }

    const one = await call(t.audit, 'GET', `/audit/${t.tenant}/events/${events[1].event_id}`);
    expect(one.body).toEqual(events[1]);
  });

  onceIt('answers 404 for another tenant\'s event, resource and export', async () => {
    const a = await setup('isoa');
    const b = await setup('isob');
    const doc = uniqueName('doc_b');
    const [bEvent] = (await append(b.tenant, provenance(doc))).events;
    const exp = await call(b.audit, 'POST', `/audit/${b.tenant}/exports`, { resource_id: doc });
    expect(exp.status).toBe(202);
    await finishedExport(b.audit, b.tenant, exp.body.export_id);

    for (const path of [
      `/audit/${a.tenant}/events/${bEvent.event_id}`,
      `/audit/${a.tenant}/chain/${doc}`,
      `/audit/${a.tenant}/exports/${exp.body.export_id}`,
      `/audit/${a.tenant}/exports/${exp.body.export_id}/file`,
      `/audit/${a.tenant}/exports/${exp.body.export_id}/manifest`,
    ]) {
      const r = await call(a.audit, 'GET', path);
      expect(r.status, path).toBe(404);
      expect(r.body.code).toBe('NOT_FOUND');
      expect(r.raw).not.toContain(b.tenant);
    }
    // Exporting the other tenant's document from one's own tenant finds nothing to export.
    expect((await call(a.audit, 'POST', `/audit/${a.tenant}/exports`, { resource_id: doc })).status).toBe(404);
    const listed = await call(a.audit, 'GET', `/audit/${a.tenant}/exports`);
    expect(listed.body.exports).toEqual([]);
  });

  onceIt('returns a provenance chain with its first break, and checks the log chain', async () => {
    const t = await setup();
    const good = uniqueName('doc_ok');
    const bad = uniqueName('doc_bad');
    await append(t.tenant, provenance(good));
    const broken = provenance(bad);
    // The parse step claims to have consumed bytes the intake step never produced.
    broken[1].details = { ...broken[1].details, input_hash: 'f'.repeat(64) };
    await append(t.tenant, broken);

    const ok = await call(t.audit, 'GET', `/audit/${t.tenant}/chain/${good}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ resource_id: good, resource_type: 'document', length: 3, valid: true, break: null, truncated: false });
    expect((ok.body.events as AuditEvent[]).map((e) => e.previous_event_id)).toEqual([null, ok.body.events[0].event_id, ok.body.events[1].event_id]);

    const nok = await call(t.audit, 'GET', `/audit/${t.tenant}/chain/${bad}`);
    expect(nok.body.valid).toBe(false);
    expect(nok.body.break).toMatchObject({ position: 1, reason: 'INPUT_HASH_MISMATCH', expected: 'a'.repeat(64), actual: 'f'.repeat(64) });
    expect((await call(t.audit, 'GET', `/audit/${t.tenant}/chain/doc_never`)).status).toBe(404);

    const verified = await call(t.audit, 'GET', `/audit/${t.tenant}/verify`);
    expect(verified.body).toMatchObject({ valid: true, tenant_id: t.tenant, first_seq: 1 });
    expect(verified.body.checked).toBe(verified.body.last_seq);
    const ranged = await call(t.audit, 'GET', `/audit/${t.tenant}/verify?from_seq=2&to_seq=4`);
    expect(ranged.body).toMatchObject({ valid: true, checked: 3, first_seq: 2, last_seq: 4 });
    expect((await call(t.audit, 'GET', `/audit/${t.tenant}/verify?from=last-week`)).status).toBe(400);
  });

  onceIt('limits a tenant to 300 audit requests per minute and says when to retry', async () => {
    const t = await setup('rl');
    const other = await setup('rlo');
    // Fixed one-minute windows: start well inside one so the 301 requests share it.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
    for (let i = 0; i < 300; i += 30) {
      const batch = await Promise.all(Array.from({ length: 30 }, () => call(t.audit, 'GET', `/audit/${t.tenant}/events/evt_missing`)));
      expect(batch.map((r) => r.status)).toEqual(Array(30).fill(404));
    }
    const limited = await call(t.audit, 'GET', `/audit/${t.tenant}/events`);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('RATE_LIMIT_EXCEEDED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers.get('ratelimit-limit')).toBe('300');
    // Per tenant: another tenant is not affected.
    expect((await call(other.audit, 'GET', `/audit/${other.tenant}/events`)).status).toBe(200);
  }, 60_000);

  it('exports a time range: signed manifest, file in the bucket, AUDIT_EXPORTED, webhook', async () => {
    const t = await setup('exp');
    const hookPath = `/${uniqueName('hook')}`;
    const endpoint = await call(t.ingest, 'POST', `/webhooks/${t.tenant}/endpoints`, { url: receiver.url(hookPath), events: ['audit.export_ready'] });
    expect(endpoint.status).toBe(201);
    await receiver.configure(hookPath, { secrets: [endpoint.body.secret] });

    const from = new Date(Date.now() - 60_000).toISOString();
    const doc = uniqueName('doc_x');
    await append(t.tenant, provenance(doc));
    const to = new Date(Date.now() + 1).toISOString();
    await new Promise((r) => setTimeout(r, 5));

    const requested = await call(t.audit, 'POST', `/audit/${t.tenant}/exports`, { from, to, format: 'jsonl' });
    expect(requested.status).toBe(202);
    expect(requested.body).toMatchObject({ status: 'pending', format: 'jsonl', from, to, resource_id: null, requested_by: 'legal-team' });
    expect(requested.body.export_id).toMatch(/^exp_[0-9a-f]{32}$/);
    expect(requested.headers.get('location')).toBe(`/api/v1/audit/${t.tenant}/exports/${requested.body.export_id}`);

    const done = await finishedExport(t.audit, t.tenant, requested.body.export_id);
    expect(done.status).toBe('completed');
    expect(done.manifest).not.toBeNull();
    const manifest = done.manifest as SignedAuditManifest;
    expect(done.event_count).toBe(manifest.event_count);
    expect(done.file_sha256).toBe(manifest.file_sha256);
    // TENANT_CREATED, the provisioning events and the three document steps: the whole stretch.
    expect(manifest).toMatchObject({ tenant_id: t.tenant, format: 'jsonl', from, to, first_seq: 1, alg: 'EdDSA' });
    expect(manifest.kid).toBe((await rt.services.keys.active()).kid);

    const file = await rt.app.request(`/api/v1/audit/${t.tenant}/exports/${done.export_id}/file`, { headers: { authorization: `Bearer ${t.audit}` } });
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/x-ndjson');
    expect(file.headers.get('content-disposition')).toContain('attachment');
    const bytes = new Uint8Array(await file.arrayBuffer());
    expect(file.headers.get('repr-digest')).toBe(`sha-256=:${Buffer.from(manifest.file_sha256, 'hex').toString('base64')}:`);
    const lines = new TextDecoder().decode(bytes).trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEvent);
    expect(lines).toHaveLength(manifest.event_count);
    expect(lines.filter((e) => e.resource_id === doc).map((e) => e.event_type)).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);

    const manifestRes = await rt.app.request(`/api/v1/audit/${t.tenant}/exports/${done.export_id}/manifest`, { headers: { authorization: `Bearer ${t.audit}` } });
    expect(manifestRes.headers.get('content-type')).toContain('application/json');
    const storedManifest = await manifestRes.json();
    expect(storedManifest).toEqual(manifest);

    // Anyone with the public JWKS can check it.
    const jwks = await (await rt.app.request('/.well-known/jwks.json')).json();
    const verified = await verifyExport(bytes, storedManifest, jwks, { sha256: nodeSha256 });
    expect(verified).toMatchObject({ ok: true });

    // In the tenant's own bucket, under audit-exports/.
    const plane = await rt.services.planes.forTenant(t.tenant);
    expect((await plane.store.list('audit-exports/')).sort()).toEqual([
      `audit-exports/${t.tenant}/${done.export_id}/events.jsonl`,
      `audit-exports/${t.tenant}/${done.export_id}/manifest.json`,
    ]);

    // The export is itself on the chain, with the file's digest.
    const exported = await call(t.audit, 'GET', `/audit/${t.tenant}/events?event_type=AUDIT_EXPORTED`);
    expect(exported.body.events).toHaveLength(1);
    expect(exported.body.events[0]).toMatchObject({
      resource_type: 'export', resource_id: done.export_id, actor: 'legal-team',
      details: { output_hash: manifest.file_sha256, event_count: manifest.event_count, kid: manifest.kid, format: 'jsonl' },
    });
    expect(exported.body.events[0].seq).toBeGreaterThan(manifest.last_seq ?? 0);

    const [hook] = await receiver.waitFor(hookPath, 1);
    expect(hook.verified).toEqual([true]);
    const payload = JSON.parse(hook.body);
    expect(payload).toMatchObject({
      type: 'audit.export_ready',
      data: {
        tenant_id: t.tenant, export_id: done.export_id, status: 'completed', event_count: manifest.event_count, file_sha256: manifest.file_sha256,
        file_url: `https://audit.frostbyte.test/api/v1/audit/${t.tenant}/exports/${done.export_id}/file`,
      },
    });
    expect((await call(t.audit, 'GET', `/audit/${t.tenant}/verify`)).body.valid).toBe(true);
  });

  it('exports one document\'s provenance as CEF that verifies like JSON Lines', async () => {
    const t = await setup('cef');
    const doc = uniqueName('doc_c');
    await append(t.tenant, [...provenance(doc), ...provenance(uniqueName('doc_other'))]);
    const requested = await call(t.audit, 'POST', `/audit/${t.tenant}/exports`, { resource_id: doc, format: 'cef' });
    expect(requested.status).toBe(202);
    const done = await finishedExport(t.audit, t.tenant, requested.body.export_id);
    expect(done).toMatchObject({ status: 'completed', event_count: 3, resource_id: doc, format: 'cef' });
    const file = await rt.app.request(`/api/v1/audit/${t.tenant}/exports/${done.export_id}/file`, { headers: { authorization: `Bearer ${t.audit}` } });
    expect(file.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const text = await file.text();
    const lines = text.trimEnd().split('\n');
    expect(lines.map((l) => l.split('|')[4])).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);
    expect(lines.every((l) => l.startsWith('CEF:0|Frostbyte|Frostbyte|0.1.0|'))).toBe(true);
    const parsed = lines.map((l) => parseCefEvent(l));
    expect(parsed.every((p) => 'event' in p && p.event.resource_id === doc)).toBe(true);
    const jwks = await rt.services.keys.jwks();
    expect(await verifyExport(text, done.manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });
  });

  onceIt('refuses malformed export requests with the field named', async () => {
    const t = await setup();
    const cases: [unknown, string][] = [
      [{ from: '2026-01-01T00:00:00Z' }, 'to'],
      [{ to: '2026-01-01T00:00:00Z' }, 'from'],
      [{}, 'from'],
      [{ from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'to'],
      [{ from: 'last week', to: '2026-01-01T00:00:00Z' }, 'from'],
      [{ from: '2026-01-01T00:00:00Z', to: '2999-01-01T00:00:00Z' }, 'to'],
      [{ resource_id: 'doc_1', format: 'xml' }, 'format'],
      [{ resource_id: 'doc_1', fromm: '2026-01-01' }, 'fromm'],
    ];
    for (const [body, field] of cases) {
      const r = await call(t.audit, 'POST', `/audit/${t.tenant}/exports`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errors.map((e: { field: string }) => e.field), JSON.stringify(body)).toContain(field);
    }
    const notJson = await rt.app.request(`/api/v1/audit/${t.tenant}/exports`, { method: 'POST', headers: { authorization: `Bearer ${t.audit}` }, body: '{nope' });
    expect(notJson.status).toBe(400);
    expect((await call(t.audit, 'GET', `/audit/${t.tenant}/exports/exp_0197a1c2000070008000000000000000`)).status).toBe(404);
  });

  onceIt('streams new events as Server-Sent Events and resumes after Last-Event-ID', async () => {
    const t = await setup('sse');
    const before = await call(t.audit, 'GET', `/audit/${t.tenant}/verify`);
    const head = before.body.last_seq as number;

    const res = await rt.app.request(`/api/v1/audit/${t.tenant}/stream?max_seconds=3&heartbeat_seconds=1`, { headers: { authorization: `Bearer ${t.audit}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reading = readSse(res);

    const doc = uniqueName('doc_live');
    await append(t.tenant, provenance(doc).slice(0, 2));
    const plane = await rt.services.planes.forTenant(t.tenant);
    await plane.db.transaction((tx) =>
      recordEvent(tx, plane.tables, { event_type: 'DOCUMENT_INDEXED', actor: 'system', resource_type: 'document', resource_id: doc, details: { component: 'index' } }, rt.services.clock),
    );
    const frames = await reading;
    const messages = frames.filter((f) => f.data !== undefined && f.event === undefined);
    expect(messages.map((m) => Number(m.id))).toEqual([head + 1, head + 2, head + 3]);
    expect(messages.map((m) => (JSON.parse(m.data as string) as AuditEvent).event_type)).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);
    expect(frames.some((f) => f.comment === 'heartbeat')).toBe(true);
    const end = frames.at(-1);
    expect(end?.event).toBe('end');
    expect(JSON.parse(end?.data as string)).toEqual({ reason: 'max_duration', last_event_id: String(head + 3) });

    // A client that saw head + 1 reconnects and gets exactly what followed.
    const resumed = await rt.app.request(`/api/v1/audit/${t.tenant}/stream?max_seconds=1`, { headers: { authorization: `Bearer ${t.audit}`, 'last-event-id': String(head + 1) } });
    const again = (await readSse(resumed)).filter((f) => f.data !== undefined && f.event === undefined);
    expect(again.map((m) => Number(m.id))).toEqual([head + 2, head + 3]);

    expect((await call(t.audit, 'GET', `/audit/${t.tenant}/stream`, undefined, { 'last-event-id': 'x' })).status).toBe(400);
    expect((await call(t.audit, 'GET', `/audit/${t.tenant}/stream?max_seconds=99999`)).status).toBe(400);
    expect((await call(t.ingest, 'GET', `/audit/${t.tenant}/stream`)).status).toBe(403);
  });
});

/** JSON.parse, or null for an empty or non-JSON body. */
function parseJson(raw: string) {
  try {
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** Reads a whole SSE response (the server closes it after max_seconds) into frames. */
async function readSse(res: Response): Promise<SseFrame[]> {
  const text = await res.text();
  const frames: SseFrame[] = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    const frame: SseFrame = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) frame.comment = line.slice(1).trim();
      else {
        const at = line.indexOf(':');
        const field = at === -1 ? line : line.slice(0, at);
        const value = at === -1 ? '' : line.slice(at + 1).replace(/^ /, '');
        if (field === 'id') frame.id = value;
        else if (field === 'event') frame.event = value;
        else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
      }
    }
    frames.push(frame);
  }
  return frames;
}

