import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEvents } from '../shared/audit/queries';
import { flushAuditOutbox } from '../shared/audit/flush';
import { LocalHashEmbedder } from '../shared/index/embedder';
import { batchForm, manifestFor, sha256, text, tinyPdf, type TestFile } from './helpers/batch';
import { startRuntime, type DbKind, type TestRuntime } from './helpers/runtime';
import { settleBatch, type BatchStatusView } from './helpers/wait';

const corpus = (): TestFile[] => [
  { file_id: 'msa', filename: 'msa.pdf', mime_type: 'application/pdf', bytes: tinyPdf('Either party may terminate this agreement with ninety days written notice') },
  { file_id: 'pay', filename: 'payment.txt', mime_type: 'text/plain', bytes: text('Payment terms\n\nInvoices are payable within thirty days. Late payments accrue interest at one percent per month.\n\nConfidentiality\n\nEach party keeps the other party\'s confidential information secret for five years.\n') },
  { file_id: 'fees', filename: 'fees.csv', mime_type: 'text/csv', bytes: text('service,annual fee\nhosting,12000\nsupport,3000\n') },
];


/** Top hits per database, as (file, page, offsets): chunk ids differ because doc ids do. */
const results: Record<string, string[]> = {};
const topChunk: Record<string, string> = {};

describe.each<DbKind>(['pglite', 'postgres'])('retrieval on %s', (kind) => {
  let rt: TestRuntime;
  let a: string;
  let b: string;
  let tokA: string;
  let tokB: string;
  let statusA: BatchStatusView;

  beforeAll(async () => {
    rt = await startRuntime(kind, {}, { pipeline: true });
    a = await rt.tenant('ret-a');
    b = await rt.tenant('ret-b');
    tokA = await rt.token(a, ['ingest', 'query']);
    tokB = await rt.token(b, ['ingest', 'query']);
    for (const [t, tok] of [[a, tokA], [b, tokB]]) {
      const f = corpus();
      const res = await rt.app.request(`/api/v1/ingest/${t}/batch`, { method: 'POST', body: batchForm(manifestFor(t, 'ret-1', f), f), headers: { authorization: `Bearer ${tok}` } });
      expect(res.status).toBe(202);
    }
    statusA = await settleBatch(rt.app, a, tokA, 'ret-1');
    await settleBatch(rt.app, b, tokB, 'ret-1');
  });
  afterAll(async () => rt?.close());

  const search = (tenant: string, token: string, body: unknown) =>
    rt.app.request(`/api/v1/query/${tenant}/search`, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });

  it('answers with passages a lawyer can trace to file, page, characters and the bytes sent', async () => {
    const res = await search(a, tokA, { query_text: 'how much notice is needed to terminate', top_k: 3 });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.query_id).toMatch(/^qry_/);
    expect(body.model_version_match).toBe(true);
    expect(body.chunks.length).toBeGreaterThan(0);
    const top = body.chunks[0];
    expect(top.text).toContain('ninety days');
    const msa = statusA.files.find((f) => f.file_id === 'msa');
    expect(top).toMatchObject({ doc_id: msa?.doc_id, file_id: 'msa', original_filename: 'msa.pdf', page: 1, source_sha256: msa?.sha256, embed_model: 'frostbyte-local-hash' });
    results[kind] = body.chunks.map((c: { file_id: string; page: number; start_char: number; end_char: number }) => `${c.file_id}:${c.page}:${c.start_char}-${c.end_char}`);
    topChunk[kind] = top.chunk_id;

    // The cited offsets slice the canonical full text to exactly the chunk text.
    const chunk = await (await rt.app.request(`/api/v1/query/${a}/chunk/${top.chunk_id}`, { headers: { authorization: `Bearer ${tokA}` } })).json();
    const plane = await rt.services.planes.forTenant(a);
    const parsed = JSON.parse(new TextDecoder().decode((await plane.store.getBytes(chunk.lineage.parsed_key)) as Uint8Array));
    expect(parsed.full_text.slice(chunk.start_char, chunk.end_char)).toBe(chunk.text);
    expect(chunk.lineage).toMatchObject({ raw_sha256: msa?.sha256, file_id: 'msa' });
    expect(sha256(new TextEncoder().encode(JSON.stringify(parsed)))).toHaveLength(64);

    const doc = await (await rt.app.request(`/api/v1/query/${a}/document/${top.doc_id}`, { headers: { authorization: `Bearer ${tokA}` } })).json();
    expect(doc.lineage).toMatchObject({ raw_sha256: msa?.sha256, embedder: { model: 'frostbyte-local-hash', dimensions: 384 } });
    expect(doc.lineage.parser_version).toBeTruthy();
    expect(doc.chunks.map((c: { chunk_id: string }) => c.chunk_id)).toContain(top.chunk_id);
  });

  it('finds exact keywords and paraphrases, filters, and returns an empty list when nothing matches', async () => {
    const kw = await (await search(a, tokA, { query_text: '"one percent per month"', mode: 'keyword' })).json();
    expect(kw.chunks[0].text).toContain('one percent per month');
    const vec = await (await search(a, tokA, { query_text: 'late payment interest', mode: 'vector', top_k: 1 })).json();
    expect(vec.chunks[0].file_id).toBe('pay');
    const filtered = await (await search(a, tokA, { query_text: 'fee', filters: { mime_types: ['text/csv'] } })).json();
    expect(filtered.chunks.every((c: { file_id: string }) => c.file_id === 'fees')).toBe(true);
    const none = await search(a, tokA, { query_text: 'zeppelin', mode: 'keyword' });
    expect(none.status).toBe(200);
    expect((await none.json()).chunks).toEqual([]);
  });

  it('refuses bad requests with field errors', async () => {
    for (const [body, field] of [[{ query_text: '' }, 'query_text'], [{ query_text: 'x', top_k: 51 }, 'top_k'], [{ query_text: 'x', mode: 'fuzzy' }, 'mode'], [{ query_text: 'x'.repeat(10_001) }, 'query_text']] as const) {
      const res = await search(a, tokA, body);
      expect(res.status).toBe(400);
      expect((await res.json()).errors.map((e: { field: string }) => e.field)).toContain(field);
    }
  });

  it('records RETRIEVAL_EXECUTED with ids and counts, never the query text', async () => {
    const body = await (await search(a, tokA, { query_text: 'confidential information secret', top_k: 2 })).json();
    const plane = await rt.services.planes.forTenant(a);
    await flushAuditOutbox(rt.services.control, plane.db, plane.tables, a, { clock: rt.services.clock });
    const events = (await listEvents(rt.services.control, a, { event_type: 'RETRIEVAL_EXECUTED', limit: 100 })).events;
    const e = events.find((x) => x.resource_id === body.query_id);
    expect(e?.details).toMatchObject({ query_id: body.query_id, mode: 'hybrid', top_k: 2, result_count: body.chunks.length, chunk_ids: body.chunks.map((c: { chunk_id: string }) => c.chunk_id) });
    expect(typeof e?.details.duration_ms).toBe('number');
    expect(JSON.stringify(e)).not.toContain('confidential information');
  });

  it('says so when the index was built with another embedder version', async () => {
    const current = rt.services.embedder;
    rt.services.embedder = new (class extends LocalHashEmbedder { override readonly version = '2' as '1'; })();
    try {
      const res = await search(a, tokA, { query_text: 'termination notice' });
      expect((await res.json()).model_version_match).toBe(false);
      expect(res.headers.get('warning')).toContain('another embedder');
    } finally {
      rt.services.embedder = current;
    }
  });

  it('keeps tenants apart: identical documents, only your own chunks, other ids 404', async () => {
    const fromB = await (await search(b, tokB, { query_text: 'terminate agreement notice', top_k: 10 })).json();
    const bDocs = new Set((await settleBatch(rt.app, b, tokB, 'ret-1')).files.map((f: { doc_id: string }) => f.doc_id));
    expect(fromB.chunks.length).toBeGreaterThan(0);
    expect(fromB.chunks.every((c: { doc_id: string }) => bDocs.has(c.doc_id))).toBe(true);
    const aDoc = statusA.files[0].doc_id;
    const aChunk = topChunk[kind];
    expect((await rt.app.request(`/api/v1/query/${b}/document/${aDoc}`, { headers: { authorization: `Bearer ${tokB}` } })).status).toBe(404);
    expect((await rt.app.request(`/api/v1/query/${b}/chunk/${aChunk}`, { headers: { authorization: `Bearer ${tokB}` } })).status).toBe(404);
    expect((await search(a, tokB, { query_text: 'x' })).status).toBe(403);
    const ingestOnly = await rt.token(a, ['ingest']);
    expect((await search(a, ingestOnly, { query_text: 'x' })).status).toBe(403);
  });
});

describe('PGlite (HNSW) and the PostgreSQL server (exact scan) agree', () => {
  it('returns the same top chunks for the same data', () => {
    expect(results.pglite).toBeDefined();
    expect(results.postgres).toBeDefined();
    expect(results.pglite.length).toBeGreaterThan(0);
    expect(results.postgres).toEqual(results.pglite);
  });
});
