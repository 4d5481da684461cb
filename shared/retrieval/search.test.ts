import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../http/errors';
import { ManualClock } from '../clock';
import type { Embedder } from '../index/embedder';
import { LocalHashEmbedder } from '../index/embedder';
import type { ParsedDocument } from '../parse/types';
import type { IndexTables } from '../index/schema';
import { buildIndexTables } from '../index/schema';
import { indexParsedDocument } from '../index/store';
import { catchUpVectors, pendingVectors } from '../index/vector-catch-up';
import type { IndexTestDb } from '../index/testing';
import { createIndexSchema, dropSchema, openIndexTestDb } from '../index/testing';
import type { SearchHit, SearchInput, SearchMode } from './search';
import { searchChunks } from './search';

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const embedder = new LocalHashEmbedder();
const clock = new ManualClock(new Date('2026-03-01T12:00:00Z'));

/** A small contract corpus: each document holds a few distinctive facts, one paragraph each. */
const DOCS: { docId: string; batchId: string; mime: string; ingestedAt: string; paragraphs: string[] }[] = [
  {
    docId: 'doc_msa',
    batchId: 'bat_jan',
    mime: 'application/pdf',
    ingestedAt: '2026-01-10T08:00:00Z',
    paragraphs: [
      'Master Services Agreement between Northwind Logistics and Frostbyte Retail.',
      'Payment terms: Northwind Logistics shall pay every invoice within 45 days of receipt. Late payments accrue interest at 1.5 percent per month.',
      'Termination: either party may terminate this agreement for convenience with ninety days written notice to the other party.',
      'Governing law: this agreement is governed by the laws of the State of Delaware, and disputes go to the courts of Wilmington.',
    ],
  },
  {
    docId: 'doc_lease',
    batchId: 'bat_jan',
    mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    ingestedAt: '2026-01-20T08:00:00Z',
    paragraphs: [
      'Warehouse lease for the Rotterdam distribution centre, unit 7B, signed by Baltic Foods.',
      'Rent of 12,500 EUR is payable monthly in advance; the deposit equals three months of rent.',
      'The tenant must insure the premises against fire and flood for at least 2 million EUR.',
      'Purchase order PO-77812 covers the refrigeration units installed in hall C.',
    ],
  },
  {
    docId: 'doc_nda',
    batchId: 'bat_feb',
    mime: 'application/pdf',
    ingestedAt: '2026-02-05T08:00:00Z',
    paragraphs: [
      'Mutual non-disclosure agreement between Aurora Analytics and Frostbyte Retail.',
      'Confidential information must be protected for five years after disclosure and returned or destroyed on request.',
      'The receiving party may share confidential information with its auditors under equivalent obligations.',
    ],
  },
];

function toParsed(d: (typeof DOCS)[number]): ParsedDocument {
  let text = '';
  const elements: ParsedDocument['elements'] = [];
  for (const p of d.paragraphs) {
    if (text) text += '\n\n';
    elements.push({ type: 'paragraph', page: 1, start_char: text.length, end_char: text.length + p.length, text: p });
    text += p;
  }
  return {
    doc_id: d.docId,
    source_sha256: `${d.docId}-sha`.padEnd(64, '0'),
    mime_type: d.mime,
    parser: 'test',
    parser_version: '1',
    full_text: text,
    pages: [{ page: 1, start_char: 0, end_char: text.length }],
    elements,
    warnings: [],
    metadata: {},
  };
}

/** One chunk per paragraph, so each fact is its own retrievable unit. */
const CHUNKING = { targetChars: 50, maxChars: 400 };

async function loadCorpus(t: IndexTestDb, schemas: string[], indexEmbedder: Embedder = embedder): Promise<IndexTables> {
  const schema = `tenant_srch_${randomBytes(5).toString('hex')}`;
  schemas.push(schema);
  await createIndexSchema(t.db, schema);
  const tables = buildIndexTables(schema);
  for (const d of DOCS) {
    await indexParsedDocument(
      { db: t.db, tables, embedder: indexEmbedder, clock },
      {
        doc: toParsed(d),
        chunking: CHUNKING,
        lineage: {
          batchId: d.batchId,
          fileId: `file_${d.docId}`,
          originalFilename: `${d.docId}.pdf`,
          mimeType: d.mime,
          sourceSha256: `${d.docId}-sha`.padEnd(64, '0'),
          ingestedAt: new Date(d.ingestedAt),
        },
      },
    );
  }
  return tables;
}

const QUERIES: { text: string; expectDoc: string; expectText: RegExp }[] = [
  { text: 'How many days does Northwind have to pay an invoice?', expectDoc: 'doc_msa', expectText: /within 45 days/ },
  { text: 'notice period to terminate the services agreement', expectDoc: 'doc_msa', expectText: /ninety days written notice/ },
  { text: 'PO-77812', expectDoc: 'doc_lease', expectText: /refrigeration units/ },
  { text: 'how long must confidential information be protected', expectDoc: 'doc_nda', expectText: /five years/ },
  { text: 'fire insurance for the warehouse premises', expectDoc: 'doc_lease', expectText: /insure the premises/ },
];

describe.each(['pglite', 'postgres'] as const)('searchChunks on %s', (kind) => {
  let t: IndexTestDb;
  let tables: IndexTables;
  const schemas: string[] = [];
  const search = (input: Omit<SearchInput, 'embedder'> & { embedder?: Embedder }) => searchChunks(t.db, tables, t.capabilities, { embedder, ...input });

  beforeAll(async () => {
    t = await openIndexTestDb(kind, DATABASE_URL);
    tables = await loadCorpus(t, schemas);
    while (await catchUpVectors(t.db, tables, t.capabilities)) {}
  });
  afterAll(async () => {
    for (const s of schemas) await dropSchema(t.db, s);
    await t.close();
  });

  it('uses HNSW where pgvector exists and the exact scan where it does not', async () => {
    const result = await search({ queryText: 'payment', mode: 'vector' });
    expect(result.vector_path).toBe(kind === 'pglite' ? 'hnsw' : 'exact');
    expect(t.capabilities.vector).toBe(kind === 'pglite');
  });

  it('finds chunks the HNSW graph has not taken in yet, with the same hits once it has', async () => {
    const fresh = await loadCorpus(t, schemas);
    const total = DOCS.reduce((n, d) => n + d.paragraphs.length, 0);
    expect(await pendingVectors(t.db, fresh, t.capabilities)).toBe(kind === 'pglite' ? total : 0);
    const hits = async () => {
      const out: string[][] = [];
      for (const q of QUERIES) {
        for (const mode of ['vector', 'hybrid'] as const) {
          const r = await searchChunks(t.db, fresh, t.capabilities, { embedder, queryText: q.text, mode, topK: 5 });
          expect(r.chunks[0]?.text, q.text).toMatch(q.expectText);
          out.push(r.chunks.map((c) => c.chunk_id));
        }
      }
      return out;
    };
    const waiting = await hits();
    // Part in the graph, part waiting, then all in: the same chunks in the same order each time.
    expect(await catchUpVectors(t.db, fresh, t.capabilities, 4)).toBe(kind === 'pglite' ? 4 : 0);
    expect(await hits()).toEqual(waiting);
    while (await catchUpVectors(t.db, fresh, t.capabilities)) {}
    expect(await pendingVectors(t.db, fresh, t.capabilities)).toBe(0);
    expect(await hits()).toEqual(waiting);
  });

  it.each(['hybrid', 'vector'] as const)('finds paraphrased and exact facts at rank 1 in %s mode', async (mode) => {
    for (const q of QUERIES) {
      const { chunks } = await search({ queryText: q.text, mode });
      expect(chunks[0]?.doc_id, q.text).toBe(q.expectDoc);
      expect(chunks[0]?.text, q.text).toMatch(q.expectText);
    }
  });

  it('returns hits with the lineage a citation needs, and a text that matches its offsets', async () => {
    const { chunks, model_version_match, mode } = await search({ queryText: 'governing law Delaware', topK: 3 });
    expect(mode).toBe('hybrid');
    expect(model_version_match).toBe(true);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.length).toBeLessThanOrEqual(3);
    const top = chunks[0];
    expect(Object.keys(top).sort()).toEqual(
      ['chunk_id', 'doc_id', 'file_id', 'original_filename', 'text', 'page', 'start_char', 'end_char', 'score', 'embed_model', 'embed_version', 'source_sha256'].sort(),
    );
    expect(top).toMatchObject({ doc_id: 'doc_msa', file_id: 'file_doc_msa', original_filename: 'doc_msa.pdf', page: 1, embed_model: embedder.model, embed_version: embedder.version });
    expect(top.source_sha256).toBe('doc_msa-sha'.padEnd(64, '0'));
    expect(toParsed(DOCS[0]).full_text.slice(top.start_char, top.end_char)).toBe(top.text);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i - 1].score).toBeGreaterThanOrEqual(chunks[i].score);
  });

  it('keyword mode uses websearch syntax and ts_rank_cd, and finds nothing for absent terms', async () => {
    const quoted = await search({ queryText: '"written notice" -invoice', mode: 'keyword' });
    expect(quoted.chunks.map((c) => c.text)).toEqual([expect.stringMatching(/ninety days written notice/)]);
    expect(quoted.vector_path).toBe('none');
    expect(quoted.chunks[0].score).toBeGreaterThan(0);
    const none = await search({ queryText: 'zeppelin hovercraft', mode: 'keyword' });
    expect(none.chunks).toEqual([]);
    const stopWordsOnly = await search({ queryText: 'the and of', mode: 'keyword' });
    expect(stopWordsOnly.chunks).toEqual([]);
  });

  it('hybrid still answers when the keyword side finds nothing', async () => {
    const { chunks } = await search({ queryText: 'What interest applies to payments that arrive late?', mode: 'keyword' });
    expect(chunks).toEqual([]);
    const hybrid = await search({ queryText: 'What interest applies to payments that arrive late?', mode: 'hybrid' });
    expect(hybrid.chunks[0].text).toMatch(/Late payments accrue interest/);
  });

  it('applies doc, batch, mime type and ingestion date filters', async () => {
    const q = 'agreement';
    const all = await search({ queryText: q, topK: 50 });
    expect(new Set(all.chunks.map((c) => c.doc_id))).toEqual(new Set(['doc_msa', 'doc_lease', 'doc_nda']));
    const docs = async (filters: SearchInput['filters'], mode: SearchMode = 'hybrid') =>
      new Set((await search({ queryText: q, topK: 50, mode, filters })).chunks.map((c) => c.doc_id));

    for (const mode of ['hybrid', 'keyword', 'vector'] as const) {
      expect(await docs({ doc_ids: ['doc_nda'] }, mode)).toEqual(new Set(['doc_nda']));
    }
    expect(await docs({ batch_ids: ['bat_jan'] })).toEqual(new Set(['doc_msa', 'doc_lease']));
    expect(await docs({ mime_types: ['application/pdf'] })).toEqual(new Set(['doc_msa', 'doc_nda']));
    expect(await docs({ date_range: { from: '2026-01-15T00:00:00Z' } })).toEqual(new Set(['doc_lease', 'doc_nda']));
    expect(await docs({ date_range: { from: new Date('2026-01-01T00:00:00Z'), to: '2026-01-20T08:00:00Z' } })).toEqual(new Set(['doc_msa', 'doc_lease']));
    expect(await docs({ doc_ids: [] })).toEqual(new Set());
    // Vector search under a filter still fills top_k (pgvector iterative scan on PGlite).
    const filtered = await search({ queryText: 'refrigeration', mode: 'vector', topK: 4, filters: { doc_ids: ['doc_lease'] } });
    expect(filtered.chunks.map((c) => c.doc_id)).toEqual(['doc_lease', 'doc_lease', 'doc_lease', 'doc_lease']);
  });

  it('bounds top_k and validates the request', async () => {
    const many = await search({ queryText: 'agreement party payment rent', topK: 50 });
    expect(many.chunks.length).toBeLessThanOrEqual(50);
    expect((await search({ queryText: 'agreement' })).chunks).toHaveLength(5);
    for (const bad of [{ topK: 0 }, { topK: 51 }, { topK: 2.5 }, { queryText: '   ' }, { queryText: 'x'.repeat(10_001) }]) {
      await expect(search({ queryText: 'agreement', ...bad })).rejects.toBeInstanceOf(AppError);
    }
    await expect(search({ queryText: 'a', filters: { date_range: { from: 'not a date' } } })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('says model_version_match=false when the index was built by another embedder version', async () => {
    const newer: Embedder = { model: embedder.model, version: '2', dimensions: 384, embed: (texts) => embedder.embed(texts) };
    for (const mode of ['hybrid', 'keyword', 'vector'] as const) {
      const result = await search({ queryText: 'rent deposit', mode, embedder: newer });
      expect(result.chunks.length).toBeGreaterThan(0);
      expect(result.model_version_match).toBe(false);
      expect(result.chunks[0]).toMatchObject({ embed_model: 'frostbyte-local-hash', embed_version: '1' });
    }
  });

  it('fills top_k under a filter whose documents are far from the query', async () => {
    // 24 freight documents near the query and one weather document far from it. The 100 nearest
    // neighbours (HNSW's ef_search) are all freight chunks, so a post-filtered index scan would
    // return nothing for the weather document; pgvector's iterative scan keeps walking the graph.
    const schema = `tenant_srch_${randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    await createIndexSchema(t.db, schema);
    const many = buildIndexTables(schema);
    for (let d = 0; d < 25; d++) {
      const docId = `doc_bulk_${d}`;
      const far = d === 17;
      const mime = far ? 'application/pdf' : 'text/plain';
      const paragraphs = Array.from({ length: 10 }, (_, i) =>
        far ? `Weather report ${i}: rain expected over the northern hills tomorrow.` : `Freight tariff ${d}-${i}: pallets shipped to the depot are charged per kilogram.`,
      );
      await indexParsedDocument(
        { db: t.db, tables: many, embedder, clock },
        {
          doc: toParsed({ docId, batchId: 'bat_bulk', mime, ingestedAt: '2026-01-01T00:00:00Z', paragraphs }),
          chunking: CHUNKING,
          lineage: { batchId: 'bat_bulk', fileId: docId, originalFilename: `${docId}.txt`, mimeType: mime, sourceSha256: 'f'.repeat(64), ingestedAt: new Date('2026-01-01T00:00:00Z') },
        },
      );
    }
    // On 250 rows the planner would sort them all exactly; make it walk HNSW as on a large table.
    if (kind === 'pglite') for (const s of ['enable_seqscan', 'enable_sort']) await t.db.execute(sql.raw(`SET ${s} = off`));
    try {
      const result = await searchChunks(t.db, many, t.capabilities, { queryText: 'freight tariff pallets', mode: 'vector', topK: 10, filters: { mime_types: ['application/pdf'] }, embedder });
      expect(result.chunks.map((c) => c.doc_id)).toEqual(Array(10).fill('doc_bulk_17'));
    } finally {
      if (kind === 'pglite') for (const s of ['enable_seqscan', 'enable_sort']) await t.db.execute(sql.raw(`RESET ${s}`));
    }
  });

  it('searches vectors of another width by the exact scan', async () => {
    const narrow = new LocalHashEmbedder({ dimensions: 64 });
    const narrowTables = await loadCorpus(t, schemas, narrow);
    const result = await searchChunks(t.db, narrowTables, t.capabilities, { queryText: 'PO-77812 refrigeration', mode: 'vector', embedder: narrow });
    expect(result.vector_path).toBe('exact');
    expect(result.chunks[0].text).toMatch(/PO-77812/);
  });
});

describe('PGlite (HNSW) and the PostgreSQL server (exact scan) give the same answers', () => {
  let lite: IndexTestDb;
  let server: IndexTestDb;
  let liteTables: IndexTables;
  let serverTables: IndexTables;
  const liteSchemas: string[] = [];
  const serverSchemas: string[] = [];

  beforeAll(async () => {
    [lite, server] = await Promise.all([openIndexTestDb('pglite', DATABASE_URL), openIndexTestDb('postgres', DATABASE_URL)]);
    liteTables = await loadCorpus(lite, liteSchemas);
    serverTables = await loadCorpus(server, serverSchemas);
  });
  afterAll(async () => {
    for (const s of liteSchemas) await dropSchema(lite.db, s);
    for (const s of serverSchemas) await dropSchema(server.db, s);
    await Promise.all([lite.close(), server.close()]);
  });

  /** Equal scores position by position; ids equal except inside groups of tied scores. */
  function expectSameWithinTies(a: SearchHit[], b: SearchHit[]) {
    expect(a.map((h) => h.score)).toHaveLength(b.length);
    a.forEach((h, i) => expect(h.score).toBeCloseTo(b[i].score, 5));
    const groups = (hits: SearchHit[]) => {
      const out: string[][] = [];
      hits.forEach((h, i) => {
        if (i > 0 && Math.abs(hits[i - 1].score - h.score) < 1e-5) out[out.length - 1].push(h.chunk_id);
        else out.push([h.chunk_id]);
      });
      return out.map((g) => g.sort().join(','));
    };
    expect(groups(a)).toEqual(groups(b));
  }

  it.each(['hybrid', 'keyword', 'vector'] as const)('%s mode', async (mode) => {
    const queries = [...QUERIES.map((q) => q.text), 'agreement', 'Frostbyte Retail', 'rent'];
    for (const queryText of queries) {
      const a = await searchChunks(lite.db, liteTables, lite.capabilities, { queryText, mode, topK: 10, embedder });
      const b = await searchChunks(server.db, serverTables, server.capabilities, { queryText, mode, topK: 10, embedder });
      expect(a.vector_path).toBe(mode === 'keyword' ? 'none' : 'hnsw');
      expect(b.vector_path).toBe(mode === 'keyword' ? 'none' : 'exact');
      expectSameWithinTies(a.chunks, b.chunks);
    }
  });
});
