/**
 * `npm run bench:search [-- --chunks 100000 --queries 500 --data-dir DIR]` — search latency on
 * the embedded default (issue 4, DESIGN §5).
 *
 * Loads N generated chunks of ~800 chars (default 100,000) with 384-d local-embedder vectors into
 * one tenant schema on PGlite (on disk, as `npm start` runs it; tables from the tenant
 * migrations), through the production write path (replaceDocumentChunks, 100 chunks per
 * document), builds the HNSW index after the load, then asks 500 known-item queries (after 25
 * warm-up ones) four ways, in a shuffled order per query: bare SQL full-text top 5, bare HNSW top
 * 50, `vector` search and `hybrid` search (searchChunks: query embedding + full-text top 50 + HNSW
 * top 50 + RRF). Prints p50/p95 of each, the ratio hybrid p95 / bare full-text p95 and the goals:
 * ratio <= 3 and hybrid p95 <= 50 ms. With --data-dir the database is kept, and a later run with
 * the same --chunks skips the ~10 minute load and index build.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import type { Db, DbCapabilities } from '../shared/db/types';
import { rowsOf } from '../shared/db/migrate';
import type { Chunk } from '../shared/index/chunk';
import { chunkIdOf } from '../shared/index/chunk';
import { LocalHashEmbedder } from '../shared/index/embedder';
import { buildIndexTables } from '../shared/index/schema';
import { embedChunks, replaceDocumentChunks } from '../shared/index/store';
import { createIndexSchema } from '../shared/index/testing';
import { searchChunks } from '../shared/retrieval/search';
import { openPglite } from '../shared/node/databases';

const { values: args } = parseArgs({
  options: {
    chunks: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '500' },
    'chunks-per-doc': { type: 'string', default: '100' },
    /** Keep the database here; a later run with the same --chunks reuses it and skips the load. */
    'data-dir': { type: 'string' },
    /** Experiment: PGlite's shared_buffers (default 128MB), to show the effect of an HNSW index that fits. */
    'shared-buffers': { type: 'string' },
  },
});
const TOTAL = Number(args.chunks);
const QUERIES = Number(args.queries);
const PER_DOC = Number(args['chunks-per-doc']);
const WARMUP = 25;
const SCHEMA = 'tenant_bench';

/** mulberry32: the same corpus and queries every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(4242);

/**
 * A contract-like vocabulary under one Zipf (s = 1) distribution, as in real text: function words
 * (stop words, dropped by the English text-search configuration) take the top ranks, then common
 * contract words, then a long tail of rare ones (names, codes). The most frequent content word
 * appears in roughly one chunk in six; a rare one in a handful.
 */
const STOP = (
  'the of and to in a is that for it as was with be by on not he this are or his from at which but have an they you were ' +
  'her she there been one all we their has would when if so no will each about up out them then many some these two more ' +
  'its other into than only could may any such under upon shall must also been those after before within without between'
).split(' ');
const COMMON = (
  'agreement party parties supplier customer services goods delivery payment invoice price term termination notice days ' +
  'months years written law court liability damages insurance warranty defect obligation confidential information data ' +
  'personal processing security audit report order purchase quantity unit schedule annex clause section amendment consent ' +
  'right rights license software system support maintenance fee fees rate interest late tax costs expenses breach remedy ' +
  'claim claims indemnify dispute arbitration jurisdiction governing force majeure event period renewal extension budget ' +
  'project milestone acceptance test criteria quality standard compliance regulation export sanction employee contractor ' +
  'subcontractor premises warehouse shipment carrier risk title transfer storage inspection return refund credit currency'
).split(' ');
const SYL = ['ka', 'lo', 'mi', 'ren', 'sto', 'vel', 'dar', 'qui', 'bra', 'nos', 'tel', 'fi', 'gor', 'ul', 'sen', 'mar', 'zo', 'pe', 'ax', 'lin'];
const vocabulary: string[] = [...STOP, ...COMMON];
const seen = new Set(vocabulary);
while (vocabulary.length < 50_000) {
  const n = 2 + Math.floor(rand() * 3);
  let w = '';
  for (let i = 0; i < n; i++) w += SYL[Math.floor(rand() * SYL.length)];
  if (!seen.has(w)) {
    seen.add(w);
    vocabulary.push(w);
  }
}
const cdf: number[] = [];
let acc = 0;
for (let r = 1; r <= vocabulary.length; r++) cdf.push((acc += 1 / r));
/** A word by Zipf rank, from rank `from` on (0 = any word). */
function word(from = 0): string {
  const x = (from ? cdf[from - 1] : 0) + rand() * (acc - (from ? cdf[from - 1] : 0));
  let lo = from;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return vocabulary[lo];
}

function chunkText(target = 800): string {
  let text = '';
  while (text.length < target - 60) {
    const n = 8 + Math.floor(rand() * 12);
    const s = Array.from({ length: n }, () => word()).join(' ');
    text += (text ? ' ' : '') + s[0].toUpperCase() + s.slice(1) + '.';
  }
  return text;
}

/**
 * Known-item queries, as users type them: distinct content words taken at random positions of a
 * stored chunk, so words come with their frequency in the text and every query has at least one
 * full-text hit. Lengths follow web-search logs (mean ~2.4 words): 1 word 20%, 2 words 40%,
 * 3 words 25%, 4 words 15%; one query in ten quotes two adjacent words as a phrase instead.
 */
const STOP_SET = new Set(STOP);
function queryFrom(text: string): string {
  const tokens = text.toLowerCase().replace(/[^a-z ]/g, ' ').split(/\s+/).filter((w) => w && !STOP_SET.has(w));
  if (rand() < 0.1) {
    const at = Math.floor(rand() * (tokens.length - 1));
    return `"${tokens[at]} ${tokens[at + 1]}"`;
  }
  const r = rand();
  const n = r < 0.2 ? 1 : r < 0.6 ? 2 : r < 0.85 ? 3 : 4;
  const picked = new Set<string>();
  for (let tries = 0; picked.size < n && tries < 50; tries++) picked.add(tokens[Math.floor(rand() * tokens.length)]);
  return [...picked].join(' ');
}

/** openPglite with one more start parameter; the rest as the embedded default sets it up. */
async function openPgliteWith(dir: string, sharedBuffers: string) {
  const pg = new PGlite(dir, { extensions: { vector }, startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffers}`] });
  await pg.waitReady;
  await pg.exec(`CREATE EXTENSION IF NOT EXISTS vector; SET maintenance_work_mem = '512MB'`);
  return { db: drizzle(pg) as unknown as Db, pg, capabilities: { vector: true, kind: 'pglite' } as DbCapabilities, close: () => pg.close() };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

async function main() {
  const keep = args['data-dir'];
  if (keep && !existsSync(keep)) mkdirSync(keep, { recursive: true });
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'frostbyte-bench-search-'));
  console.log(`bench:search — ${TOTAL.toLocaleString('en')} chunks, ${QUERIES} queries, PGlite on disk at ${dir}`);
  // Latency percentiles mean little on a busy machine: say how busy it was.
  const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`${cpus().length} cores, load average ${load()}`);
  const { db, pg, capabilities, close } = args['shared-buffers'] ? await openPgliteWith(dir, args['shared-buffers']) : await openPglite(dir);
  console.log(`PGlite shared_buffers ${(await pg.query<{ shared_buffers: string }>('SHOW shared_buffers')).rows[0].shared_buffers}`);
  try {
    const existing = await pg.query<{ n: number; hnsw: boolean }>(
      `SELECT (SELECT count(*)::int FROM "${SCHEMA}".chunks) AS n, to_regclass('"${SCHEMA}".chunks_embedding_hnsw') IS NOT NULL AS hnsw`,
    ).catch(() => ({ rows: [] as { n: number; hnsw: boolean }[] }));
    const reuse = existing.rows[0]?.n === TOTAL && existing.rows[0]?.hnsw === true;
    if (reuse) console.log(`reusing the ${TOTAL.toLocaleString('en')} chunks and HNSW index in ${dir}`);
    else {
      await db.execute(sql.raw(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`));
      await createIndexSchema(db, SCHEMA, { withHnsw: false });
    }
    const tables = buildIndexTables(SCHEMA);
    const embedder = new LocalHashEmbedder();

    // Chunks that queries are taken from, chosen up front so the corpus does not depend on them.
    const sources = new Set<number>();
    while (sources.size < Math.min(TOTAL, QUERIES + WARMUP)) sources.add(Math.floor(rand() * TOTAL));
    const queries: string[] = [];

    const loadStart = performance.now();
    let loaded = 0;
    for (let d = 0; loaded < TOTAL; d++) {
      const docId = `doc_bench_${String(d).padStart(6, '0')}`;
      const chunks: Chunk[] = [];
      let offset = 0;
      for (let i = 0; i < PER_DOC && loaded + chunks.length < TOTAL; i++) {
        const text = chunkText();
        if (sources.has(loaded + chunks.length)) queries.push(queryFrom(text));
        const page = 1 + Math.floor(i / 3);
        chunks.push({ chunk_id: await chunkIdOf(docId, page, offset, offset + text.length), doc_id: docId, page, start_char: offset, end_char: offset + text.length, text, element_types: ['paragraph'], section_title: null });
        offset += text.length + 2;
      }
      // Reusing: the same seed regenerated the same texts, and so the same queries.
      if (reuse) {
        loaded += chunks.length;
        continue;
      }
      const embeddings = await embedChunks(embedder, chunks);
      await replaceDocumentChunks(db, tables, docId, chunks, embeddings, {
        lineage: { batchId: `bat_${d % 20}`, fileId: `file_${d}`, originalFilename: `${docId}.pdf`, mimeType: 'application/pdf', sourceSha256: docId.padEnd(64, '0'), ingestedAt: new Date(Date.UTC(2026, 0, 1 + (d % 60))) },
        now: new Date(),
      });
      loaded += chunks.length;
      const secs = (performance.now() - loadStart) / 1000;
      process.stdout.write(`\rloading ${loaded.toLocaleString('en')}/${TOTAL.toLocaleString('en')} chunks  ${(loaded / secs).toFixed(0)} chunks/s  ${secs.toFixed(0)} s   `);
    }
    process.stdout.write('\n');
    const loadSecs = (performance.now() - loadStart) / 1000;
    let hnswSecs = 0;
    if (!reuse) {
      // PGlite runs the build on this thread, so there is no progress to show while it runs.
      const mwm = rowsOf<{ maintenance_work_mem: string }>(await db.execute(sql`SHOW maintenance_work_mem`))[0]?.maintenance_work_mem;
      console.log(`building HNSW index (m 16, ef_construction 64, maintenance_work_mem ${mwm}) ...`);
      const hnswStart = performance.now();
      // What the vector catch-up does row by row (shared/index/vector-catch-up.ts), in one pass.
      await pg.exec(`UPDATE "${SCHEMA}".chunks SET embedding_vec = embedding::vector(384) WHERE embedding_vec IS NULL AND embed_dimensions = 384;
        CREATE INDEX chunks_embedding_hnsw ON "${SCHEMA}".chunks USING hnsw (embedding_vec vector_cosine_ops); ANALYZE "${SCHEMA}".chunks;`);
      hnswSecs = (performance.now() - hnswStart) / 1000;
      console.log(`HNSW built in ${hnswSecs.toFixed(0)} s`);
    }

    // Shuffled: queries must not arrive in load order.
    for (let i = queries.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [queries[i], queries[j]] = [queries[j], queries[i]];
    }
    const bareFts = (q: string) =>
      pg.query(
        `SELECT c.chunk_id, c.doc_id, c.file_id, c.original_filename, c.text, c.page, c.start_char, c.end_char, ts_rank_cd(c.tsv, q.query) AS score,
                c.embed_model, c.embed_version, c.source_sha256
         FROM "${SCHEMA}".chunks c, websearch_to_tsquery('english', $1) AS q(query)
         WHERE c.tsv @@ q.query ORDER BY score DESC, c.chunk_id LIMIT 5`,
        [q],
      );
    const plan = rowsOf<{ 'QUERY PLAN': string }>(
      await db.execute(sql.raw(`EXPLAIN SELECT chunk_id FROM "${SCHEMA}".chunks ORDER BY embedding_vec <=> (SELECT embedding_vec FROM "${SCHEMA}".chunks LIMIT 1) LIMIT 50`)),
    );
    console.log(`vector plan uses HNSW: ${plan.some((r) => r['QUERY PLAN'].includes('chunks_embedding_hnsw'))}`);

    const bareHnsw = async (q: string) => {
      const [v] = await embedder.embed([q]);
      return pg.query(`SELECT chunk_id FROM "${SCHEMA}".chunks ORDER BY embedding_vec <=> $1::vector LIMIT 50`, [`[${Array.from(v).join(',')}]`]);
    };

    // Each query runs in all four forms, in a shuffled order per query: whichever runs first pays
    // for the pages the query touches (the 100k HNSW index is larger than PGlite's 128 MB of
    // shared buffers), and shuffling spreads that cost evenly over the forms.
    type Form = 'fts' | 'hybrid' | 'vector' | 'hnsw';
    const timings: Record<Form, number[]> = { fts: [], hybrid: [], vector: [], hnsw: [] };
    let ftsHits = 0;
    let ftsMatched = 0;
    for (const [i, q] of queries.entries()) {
      if (i >= QUERIES + WARMUP) break;
      const forms: Form[] = ['fts', 'hybrid', 'vector', 'hnsw'];
      for (let k = forms.length - 1; k > 0; k--) {
        const j = Math.floor(rand() * (k + 1));
        [forms[k], forms[j]] = [forms[j], forms[k]];
      }
      for (const form of forms) {
        const t0 = performance.now();
        if (form === 'fts') {
          const res = await bareFts(q);
          if (i >= WARMUP && res.rows.length > 0) ftsHits += 1;
        } else if (form === 'hnsw') await bareHnsw(q);
        else {
          const r = await searchChunks(db, tables, capabilities, { queryText: q, topK: 5, mode: form, embedder });
          if (r.vector_path !== 'hnsw') throw new Error(`expected the HNSW path, got ${r.vector_path}`);
        }
        if (i >= WARMUP) timings[form].push(performance.now() - t0);
      }
      if (i >= WARMUP) {
        ftsMatched += (await pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${SCHEMA}".chunks WHERE tsv @@ websearch_to_tsquery('english', $1)`, [q])).rows[0].n;
      }
      if (i % 25 === 24) process.stdout.write(`\rqueries ${Math.max(0, i + 1 - WARMUP)}/${QUERIES} (after ${WARMUP} warm-up)   `);
    }
    process.stdout.write('\n');
    console.log(`load average after the queries: ${load()}`);
    const { hybrid, fts, vector, hnsw } = timings;

    for (const xs of [hybrid, fts, vector, hnsw]) xs.sort((a, b) => a - b);
    const hybridP95 = percentile(hybrid, 95);
    const ftsP95 = percentile(fts, 95);
    if (!reuse) console.log(`\nload: ${TOTAL.toLocaleString('en')} chunks in ${loadSecs.toFixed(0)} s (${(TOTAL / loadSecs).toFixed(0)} chunks/s), HNSW build ${hnswSecs.toFixed(0)} s`);
    console.log(`bare full-text queries with at least one hit: ${ftsHits}/${QUERIES}; rows matched per query: mean ${(ftsMatched / QUERIES).toFixed(0)}`);
    console.log(`bare full-text (top 5)           p50 ${fmt(percentile(fts, 50))}  p95 ${fmt(ftsP95)}`);
    console.log(`bare HNSW top 50 (ef_search 100) p50 ${fmt(percentile(hnsw, 50))}  p95 ${fmt(percentile(hnsw, 95))}`);
    console.log(`vector search (top 5)           p50 ${fmt(percentile(vector, 50))}  p95 ${fmt(percentile(vector, 95))}`);
    console.log(`hybrid (FTS 50 + HNSW 50, RRF)   p50 ${fmt(percentile(hybrid, 50))}  p95 ${fmt(hybridP95)}`);
    console.log(`ratio hybrid p95 / bare full-text p95: ${(hybridP95 / ftsP95).toFixed(2)}`);
    console.log(`goal hybrid p95 <= 3 x bare full-text p95: ${hybridP95 <= 3 * ftsP95 ? 'MET' : 'NOT MET'}`);
    console.log(`goal hybrid p95 <= 50 ms: ${hybridP95 <= 50 ? 'MET' : 'NOT MET'}`);
  } finally {
    await close();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
