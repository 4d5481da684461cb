import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock';
import { applyMigrations, rowsOf } from '../db/migrate';
import type { Sha256Factory } from '../hash';
import { nodeSha256 } from '../node/sha256';
import type { ParsedDocument } from '../parse/types';
import type { Chunk } from './chunk';
import { chunkDocument } from './chunk';
import { LocalHashEmbedder } from './embedder';
import { buildIndexTables } from './schema';
import type { ChunkLineage } from './store';
import { chunkSetHash, embedChunks, findStepRun, indexParsedDocument, recordStepRun, replaceDocumentChunks } from './store';
import type { IndexTestDb } from './testing';
import { createIndexSchema, dropSchema, openIndexTestDb } from './testing';
import { catchUpVectors } from './vector-catch-up';

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const embedder = new LocalHashEmbedder();
const clock = new ManualClock(new Date('2026-03-01T10:00:00Z'));

function parsedDoc(docId: string, paragraphs: string[], parserVersion = '1'): ParsedDocument {
  let text = '';
  const elements: ParsedDocument['elements'] = [];
  for (const p of paragraphs) {
    if (text) text += '\n\n';
    elements.push({ type: 'paragraph', page: 1, start_char: text.length, end_char: text.length + p.length, text: p });
    text += p;
  }
  return {
    doc_id: docId,
    source_sha256: 'b'.repeat(64),
    mime_type: 'text/plain',
    parser: 'test',
    parser_version: parserVersion,
    full_text: text,
    pages: [{ page: 1, start_char: 0, end_char: text.length }],
    elements,
    warnings: [],
    metadata: {},
  };
}

const lineage = (docId: string): ChunkLineage => ({
  batchId: 'bat_1',
  fileId: `file_${docId}`,
  originalFilename: `${docId}.txt`,
  mimeType: 'text/plain',
  sourceSha256: 'b'.repeat(64),
  ingestedAt: new Date('2026-03-01T09:00:00Z'),
});

const paragraphs = (n: number, topic: string) =>
  Array.from({ length: n }, (_, i) => `Section ${i} of the ${topic} schedule: the supplier delivers ${i * 7} pallets to the Hamburg depot every week.`);

describe('chunkSetHash', () => {
  it('gives the same hash with the runtime\'s native SHA-256, one-shot or streaming, as with WebCrypto', async () => {
    const chunks = [
      { chunk_id: 'chk_b', text: 'Payment is due within 30 days.' },
      { chunk_id: 'chk_a', text: 'Zürich, 5 € — “quoted” 😀 and a lone \ud800 surrogate' },
      { chunk_id: 'chk_c', text: '' },
    ];
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const lines = chunks.map((c) => `${c.chunk_id} ${sha(c.text)}\n`).sort();
    const expected = sha(lines.join(''));
    const streamingOnly: Sha256Factory = () => nodeSha256();

    expect(nodeSha256.textHex).toBeTypeOf('function');
    expect(await chunkSetHash(chunks)).toBe(expected);
    expect(await chunkSetHash(chunks, nodeSha256)).toBe(expected);
    expect(await chunkSetHash(chunks, streamingOnly)).toBe(expected);
    expect(await chunkSetHash([], nodeSha256)).toBe(await chunkSetHash([]));
  });
});

describe.each(['pglite', 'postgres'] as const)('index storage on %s', (kind) => {
  let t: IndexTestDb;
  const schemas: string[] = [];

  beforeAll(async () => {
    t = await openIndexTestDb(kind, DATABASE_URL);
  });
  afterAll(async () => {
    for (const s of schemas) await dropSchema(t.db, s);
    await t.close();
  });

  async function freshTables() {
    const schema = `tenant_idx_${randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    await createIndexSchema(t.db, schema);
    return { schema, tables: buildIndexTables(schema) };
  }

  async function storedChunks(schema: string, docId?: string) {
    const where = docId ? sql` WHERE doc_id = ${docId}` : sql``;
    return rowsOf<{ chunk_id: string; doc_id: string; text: string; start_char: number; end_char: number }>(
      await t.db.execute(sql`SELECT chunk_id, doc_id, text, start_char, end_char FROM ${sql.raw(`"${schema}".chunks`)}${where} ORDER BY start_char`),
    );
  }

  it('re-indexing a document replaces its chunks and returns the same chunk-set hash', async () => {
    const { schema, tables } = await freshTables();
    const doc = parsedDoc('doc_a', paragraphs(20, 'delivery'));
    const chunks = await chunkDocument(doc);
    const embeddings = await embedChunks(embedder, chunks);

    const first = await replaceDocumentChunks(t.db, tables, 'doc_a', chunks, embeddings, { lineage: lineage('doc_a'), now: clock.now() });
    const second = await replaceDocumentChunks(t.db, tables, 'doc_a', chunks, embeddings, { lineage: lineage('doc_a'), now: clock.now() });

    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(second).toBe(first);
    expect(first).toBe(await chunkSetHash([...chunks].reverse()));
    const stored = await storedChunks(schema);
    expect(stored.map((r) => r.chunk_id)).toEqual(chunks.map((c) => c.chunk_id));
    for (const r of stored) expect(doc.full_text.slice(r.start_char, r.end_char)).toBe(r.text);
  });

  it('a new parse with other offsets leaves no stale chunks and changes the hash; other documents stay', async () => {
    const { schema, tables } = await freshTables();
    const v1 = await indexParsedDocument({ db: t.db, tables, embedder, clock }, { doc: parsedDoc('doc_a', paragraphs(12, 'delivery')), lineage: lineage('doc_a') });
    await indexParsedDocument({ db: t.db, tables, embedder, clock }, { doc: parsedDoc('doc_b', paragraphs(3, 'pricing')), lineage: lineage('doc_b') });

    const reparsed = parsedDoc('doc_a', ['Preamble added by the new parser version.', ...paragraphs(12, 'delivery')], '2');
    const v2 = await indexParsedDocument({ db: t.db, tables, embedder, clock }, { doc: reparsed, lineage: lineage('doc_a') });

    expect(v2.chunkSetHash).not.toBe(v1.chunkSetHash);
    const expected = await chunkDocument(reparsed);
    expect((await storedChunks(schema, 'doc_a')).map((r) => r.chunk_id)).toEqual(expected.map((c) => c.chunk_id));
    expect(await storedChunks(schema, 'doc_b')).toHaveLength(1);
  });

  it('indexes with the runtime\'s native SHA-256 to the same chunk ids and chunk-set hash as with WebCrypto', async () => {
    const doc = parsedDoc('doc_n', paragraphs(12, 'insurance'));
    const webCrypto = await freshTables();
    const native = await freshTables();
    const a = await indexParsedDocument({ db: t.db, tables: webCrypto.tables, embedder, clock }, { doc, lineage: lineage('doc_n') });
    const b = await indexParsedDocument({ db: t.db, tables: native.tables, embedder, clock, sha256: nodeSha256 }, { doc, lineage: lineage('doc_n') });
    expect(b).toEqual(a);
    expect(a.chunkCount).toBeGreaterThan(1);
    expect((await storedChunks(native.schema)).map((r) => r.chunk_id)).toEqual((await storedChunks(webCrypto.schema)).map((r) => r.chunk_id));
  });

  it('concurrent re-indexes of one document never duplicate it', async () => {
    const { schema, tables } = await freshTables();
    const doc = parsedDoc('doc_c', paragraphs(10, 'storage'));
    const chunks = await chunkDocument(doc);
    const embeddings = await embedChunks(embedder, chunks);
    await Promise.all(
      Array.from({ length: 4 }, () => replaceDocumentChunks(t.db, tables, 'doc_c', chunks, embeddings, { lineage: lineage('doc_c'), now: clock.now() })),
    );
    expect(await storedChunks(schema)).toHaveLength(chunks.length);
  });

  it('stores lineage, model, a full-text vector and (with pgvector) the vector column', async () => {
    const { schema, tables } = await freshTables();
    await indexParsedDocument({ db: t.db, tables, embedder, clock }, { doc: parsedDoc('doc_d', paragraphs(2, 'insurance')), lineage: lineage('doc_d') });
    const [row] = rowsOf<Record<string, unknown>>(
      await t.db.execute(sql.raw(`SELECT *, tsv @@ websearch_to_tsquery('english', 'delivering pallets') AS matches FROM "${schema}".chunks`)),
    );
    expect(row).toMatchObject({
      doc_id: 'doc_d',
      batch_id: 'bat_1',
      file_id: 'file_doc_d',
      original_filename: 'doc_d.txt',
      mime_type: 'text/plain',
      source_sha256: 'b'.repeat(64),
      page: 1,
      element_types: ['paragraph'],
      embed_model: 'frostbyte-local-hash',
      embed_version: '1',
      embed_dimensions: 384,
      matches: true,
    });
    expect(row.embedding as number[]).toHaveLength(384);
    const norm = Math.hypot(...(row.embedding as number[]));
    expect(norm).toBeCloseTo(1, 5);
    if (t.capabilities.vector) {
      // Written without its graph vector; the catch-up fills it from `embedding`.
      expect(row.embedding_vec).toBeNull();
      expect(await catchUpVectors(t.db, tables, t.capabilities)).toBe(1);
      const [after] = rowsOf<{ embedding_vec: string }>(await t.db.execute(sql.raw(`SELECT embedding_vec FROM "${schema}".chunks`)));
      expect(JSON.parse(after.embedding_vec)).toEqual(row.embedding);
    } else {
      expect(row).not.toHaveProperty('embedding_vec');
      expect(await catchUpVectors(t.db, tables, t.capabilities)).toBe(0);
    }
  });

  it('rejects embeddings that do not fit and keeps the previous chunks', async () => {
    const { schema, tables } = await freshTables();
    const chunks: Chunk[] = await chunkDocument(parsedDoc('doc_e', paragraphs(2, 'audit')));
    const good = await embedChunks(embedder, chunks);
    await replaceDocumentChunks(t.db, tables, 'doc_e', chunks, good, { lineage: lineage('doc_e'), now: clock.now() });

    const narrow = { ...good, vectors: good.vectors.map((v) => v.slice(0, 100)) };
    await expect(replaceDocumentChunks(t.db, tables, 'doc_e', chunks, narrow, { lineage: lineage('doc_e'), now: clock.now() })).rejects.toThrow(/100 dimensions, expected 384/);
    const zero = { ...good, vectors: good.vectors.map((v) => new Float32Array(v.length)) };
    await expect(replaceDocumentChunks(t.db, tables, 'doc_e', chunks, zero, { lineage: lineage('doc_e'), now: clock.now() })).rejects.toThrow(/zero or not finite/);
    await expect(replaceDocumentChunks(t.db, tables, 'doc_e', chunks, { ...good, vectors: [] }, { lineage: lineage('doc_e'), now: clock.now() })).rejects.toThrow(/0 embeddings for 1 chunks/);
    expect(await storedChunks(schema)).toHaveLength(chunks.length);
  });

  it('the chunk-storage migration keeps the tsvector in the row and the vectors out of it', async () => {
    const { schema } = await freshTables();
    const storageSql = readFileSync(new URL('../../drizzle/tenant/0006_chunk_storage.sql', import.meta.url), 'utf8');
    // Applied twice (tags differ): a re-run of the custom migration must be harmless.
    for (const tag of ['storage_a', 'storage_b']) await applyMigrations(t.db, [{ tag, sql: storageSql }], { schema, tenantSchema: schema });
    const rows = rowsOf<{ attname: string; attstorage: string }>(
      await t.db.execute(sql`SELECT attname, attstorage FROM pg_attribute WHERE attrelid = ${`"${schema}"."chunks"`}::regclass AND attname IN ('tsv', 'embedding', 'embedding_vec') ORDER BY attname`),
    );
    expect(Object.fromEntries(rows.map((r) => [r.attname, r.attstorage]))).toEqual({
      embedding: 'e',
      tsv: 'm',
      ...(t.capabilities.vector ? { embedding_vec: 'e' } : {}),
    });
  });

  it('records idempotent step runs once per (document, step, input sha256, code version)', async () => {
    const { tables } = await freshTables();
    const key = { docId: 'doc_f', step: 'index', inputSha256: 'c'.repeat(64), codeVersion: 'index@1' };
    expect(await findStepRun(t.db, tables, key)).toBeNull();
    await recordStepRun(t.db, tables, key, 'd'.repeat(64), clock.now());
    await recordStepRun(t.db, tables, key, 'e'.repeat(64), clock.now());
    expect(await findStepRun(t.db, tables, key)).toEqual({ outputSha256: 'd'.repeat(64), completedAt: clock.now() });
    expect(await findStepRun(t.db, tables, { ...key, codeVersion: 'index@2' })).toBeNull();
  });
});
