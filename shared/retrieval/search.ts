import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import { rowsOf } from '../db/migrate';
import type { DbCapabilities, DbOrTx } from '../db/types';
import { AppError } from '../http/errors';
import type { Embedder } from '../index/embedder';
import { normalize } from '../index/embedder';
import type { IndexTables } from '../index/schema';
import { chunksTableSql, VECTOR_COLUMN_DIMENSIONS } from '../index/schema';

/**
 * Retrieval over one tenant's chunk index (DESIGN §5, issue 4).
 *
 * - `keyword`: `websearch_to_tsquery('english', …)` ranked by `ts_rank_cd`; score = ts_rank_cd.
 * - `vector`: cosine similarity of unit vectors; score = cosine in [-1, 1]. HNSW over
 *   `embedding_vec` where pgvector is installed (ef_search 100, iterative scan so filters still
 *   fill top_k; pgvector ≥ 0.8), merged with an exact scan of the chunks that have not reached
 *   the graph yet (shared/index/vector-catch-up.ts); without pgvector an exact scan over
 *   `embedding real[]` in SQL.
 * - `hybrid`: the top 50 of each, fused by reciprocal rank fusion: score = Σ 1 / (60 + rank).
 *
 * One statement per search. Every statement is bounded by LIMIT, and on a PostgreSQL server by a
 * statement timeout (PGlite has none; its queries stay bounded by LIMIT and the candidate caps).
 * Ties are broken by chunk_id, so the same data gives the same order on PGlite and on a server.
 */

export type SearchMode = 'hybrid' | 'keyword' | 'vector';

export interface SearchFilters {
  /** An empty list matches nothing. */
  doc_ids?: string[];
  batch_ids?: string[];
  mime_types?: string[];
  /** On the ingestion time of the original; both bounds inclusive. */
  date_range?: { from?: Date | string; to?: Date | string };
}

export interface SearchInput {
  queryText: string;
  /** 1–50, default 5. */
  topK?: number;
  /** Default `hybrid`. */
  mode?: SearchMode;
  filters?: SearchFilters;
  embedder: Embedder;
}

export interface SearchOptions {
  /** Candidates from each side before fusion. Default 50. */
  candidates?: number;
  /** Reciprocal rank fusion constant. Default 60. */
  rrfK?: number;
  /** HNSW candidate list (pgvector `hnsw.ef_search`). Default 100. */
  efSearch?: number;
  /** PostgreSQL server only. Default 10 000 ms. */
  statementTimeoutMs?: number;
}

export interface SearchHit {
  chunk_id: string;
  doc_id: string;
  file_id: string;
  original_filename: string;
  text: string;
  page: number;
  start_char: number;
  end_char: number;
  score: number;
  embed_model: string;
  embed_version: string;
  source_sha256: string;
}

export interface SearchResult {
  mode: SearchMode;
  chunks: SearchHit[];
  /** False when any returned chunk was embedded by another model or version than `embedder`. */
  model_version_match: boolean;
  /** How vector candidates were found: `hnsw`, `exact` (no pgvector or another width) or `none` (keyword). */
  vector_path: 'hnsw' | 'exact' | 'none';
}

export const MAX_QUERY_CHARS = 10_000;
export const MAX_TOP_K = 50;
export const DEFAULT_TOP_K = 5;

export async function searchChunks(
  db: DbOrTx,
  tables: IndexTables,
  capabilities: DbCapabilities,
  input: SearchInput,
  opts: SearchOptions = {},
): Promise<SearchResult> {
  const mode = input.mode ?? 'hybrid';
  const topK = input.topK ?? DEFAULT_TOP_K;
  validate(input.queryText, topK, mode);
  const candidates = Math.max(opts.candidates ?? 50, topK);
  const rrfK = Math.max(1, Math.trunc(opts.rrfK ?? 60));

  const table = chunksTableSql(tables);
  const where = filterSql(input.filters ?? {});
  const useHnsw = capabilities.vector && input.embedder.dimensions === VECTOR_COLUMN_DIMENSIONS;
  const vectorPath = mode === 'keyword' ? 'none' : useHnsw ? 'hnsw' : 'exact';

  const parts: SQL[] = [];
  if (mode !== 'vector') parts.push(keywordCandidates(table, where, input.queryText, candidates));
  if (mode !== 'keyword') {
    const [raw] = await input.embedder.embed([input.queryText]);
    const query = normalize(raw);
    parts.push(useHnsw ? hnswCandidates(table, where, query, candidates) : exactCandidates(table, where, query, candidates));
  }

  // One side: its own score. Two sides: reciprocal rank fusion over each side's rank.
  const ranked = parts.map((part, i) => sql`${sql.raw(`side${i}`)} AS (SELECT chunk_id, score, row_number() OVER (ORDER BY score DESC, chunk_id) AS rank FROM (${part}) AS s)`);
  const scored =
    parts.length === 1
      ? sql`SELECT chunk_id, score::float8 AS score FROM side0`
      : sql`SELECT chunk_id, sum(1.0::float8 / (${sql.raw(String(rrfK))} + rank)) AS score FROM (SELECT chunk_id, rank FROM side0 UNION ALL SELECT chunk_id, rank FROM side1) AS u GROUP BY chunk_id`;
  // Rank and cut to top_k first, then fetch only those rows by primary key.
  const statement = sql`WITH ${sql.join(ranked, sql`, `)},
    top AS (SELECT chunk_id, score FROM (${scored}) AS f ORDER BY score DESC, chunk_id LIMIT ${topK})
    SELECT c.chunk_id, c.doc_id, c.file_id, c.original_filename, c.text, c.page, c.start_char, c.end_char,
           top.score, c.embed_model, c.embed_version, c.source_sha256
    FROM top JOIN ${table} c ON c.chunk_id = top.chunk_id
    ORDER BY top.score DESC, c.chunk_id`;

  const rows = await runBounded(db, capabilities, statement, {
    hnsw: vectorPath === 'hnsw',
    efSearch: Math.trunc(opts.efSearch ?? 100),
    statementTimeoutMs: Math.trunc(opts.statementTimeoutMs ?? 10_000),
  });

  const chunks = rows.map((r) => ({ ...r, page: Number(r.page), start_char: Number(r.start_char), end_char: Number(r.end_char), score: Number(r.score) }));
  return {
    mode,
    chunks,
    model_version_match: chunks.every((c) => c.embed_model === input.embedder.model && c.embed_version === input.embedder.version),
    vector_path: vectorPath,
  };
}

/** Session settings already applied per PGlite handle (its one session serves every query). */
const pgliteSettings = new WeakMap<object, string>();

/**
 * A PostgreSQL server gets a transaction whose settings (statement timeout, HNSW) end with it:
 * pooled connections are shared. PGlite has one session, no statement timeout, and pays ~0.5 ms
 * per statement, so the HNSW settings are set once per handle for the whole session; they only
 * affect HNSW scans, and every HNSW scan in Frostbyte is this one.
 */
async function runBounded(
  db: DbOrTx,
  capabilities: DbCapabilities,
  statement: SQL,
  settings: { hnsw: boolean; efSearch: number; statementTimeoutMs: number },
): Promise<SearchHit[]> {
  const hnswSettings = sql`set_config('hnsw.ef_search', ${String(settings.efSearch)}, true), set_config('hnsw.iterative_scan', 'strict_order', true)`;
  if (capabilities.kind === 'pglite') {
    const wanted = settings.hnsw ? `ef_search=${settings.efSearch}` : undefined;
    if (wanted && pgliteSettings.get(db) !== wanted) {
      await db.execute(sql.raw(`SET hnsw.ef_search = ${settings.efSearch}`));
      await db.execute(sql.raw(`SET hnsw.iterative_scan = strict_order`));
      pgliteSettings.set(db, wanted);
    }
    return rowsOf<SearchHit>(await db.execute(statement));
  }
  return db.transaction(async (tx) => {
    const timeout = sql`set_config('statement_timeout', ${String(settings.statementTimeoutMs)}, true)`;
    await tx.execute(sql`SELECT ${timeout}${settings.hnsw ? sql`, ${hnswSettings}` : sql``}`);
    return rowsOf<SearchHit>(await tx.execute(statement));
  });
}

function validate(queryText: string, topK: number, mode: string) {
  const errors: { field: string; message: string }[] = [];
  if (typeof queryText !== 'string' || queryText.trim().length === 0) errors.push({ field: 'query_text', message: 'must not be empty' });
  else if (queryText.length > MAX_QUERY_CHARS) errors.push({ field: 'query_text', message: `must be at most ${MAX_QUERY_CHARS} characters` });
  if (!Number.isInteger(topK) || topK < 1 || topK > MAX_TOP_K) errors.push({ field: 'top_k', message: `must be an integer from 1 to ${MAX_TOP_K}` });
  if (mode !== 'hybrid' && mode !== 'keyword' && mode !== 'vector') errors.push({ field: 'mode', message: 'must be hybrid, keyword or vector' });
  if (errors.length) throw new AppError('VALIDATION_FAILED', 'invalid search request', { errors });
}

function filterSql(filters: SearchFilters): SQL {
  const conditions: SQL[] = [sql`true`];
  const inList = (column: string, values: string[] | undefined) => {
    if (values === undefined) return;
    conditions.push(values.length ? sql`${sql.raw(`c.${column}`)} IN ${values}` : sql`false`);
  };
  inList('doc_id', filters.doc_ids);
  inList('batch_id', filters.batch_ids);
  inList('mime_type', filters.mime_types);
  const { from, to } = filters.date_range ?? {};
  if (from !== undefined) conditions.push(sql`c.ingested_at >= ${toIso(from)}::timestamptz`);
  if (to !== undefined) conditions.push(sql`c.ingested_at <= ${toIso(to)}::timestamptz`);
  return sql.join(conditions, sql` AND `);
}

function toIso(value: Date | string): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new AppError('VALIDATION_FAILED', 'invalid date_range', { errors: [{ field: 'filters.date_range', message: 'must be ISO-8601 timestamps' }] });
  return date.toISOString();
}

function keywordCandidates(table: SQL, where: SQL, queryText: string, limit: number): SQL {
  return sql`SELECT c.chunk_id, ts_rank_cd(c.tsv, q.query)::float8 AS score
    FROM ${table} c, websearch_to_tsquery('english', ${queryText}) AS q(query)
    WHERE c.tsv @@ q.query AND ${where}
    ORDER BY score DESC, c.chunk_id
    LIMIT ${limit}`;
}

function hnswCandidates(table: SQL, where: SQL, query: Float32Array, limit: number): SQL {
  const literal = `[${Array.from(query).join(',')}]`;
  // ORDER BY the bare distance so the planner can walk the HNSW index; ties are ranked outside.
  const graph = sql`SELECT c.chunk_id, 1 - (c.embedding_vec <=> ${literal}::vector) AS score
    FROM ${table} c
    WHERE c.embedding_vec IS NOT NULL AND ${where}
    ORDER BY c.embedding_vec <=> ${literal}::vector
    LIMIT ${limit}`;
  // Chunks the graph has not taken in yet (`chunks_vector_pending` finds them) are scored exactly.
  const waiting = exactCandidates(table, sql`c.embedding_vec IS NULL AND ${where}`, query, limit);
  return sql`SELECT chunk_id, score FROM ((${graph}) UNION ALL (${waiting})) AS v ORDER BY score DESC, chunk_id LIMIT ${limit}`;
}

function exactCandidates(table: SQL, where: SQL, query: Float32Array, limit: number): SQL {
  const literal = `{${Array.from(query).join(',')}}`;
  // Stored vectors are unit length, so the dot product is the cosine. float8 keeps the order
  // stable against pgvector's single-precision distance within ties.
  return sql`SELECT c.chunk_id, (SELECT sum(a::float8 * b::float8) FROM unnest(c.embedding, ${literal}::real[]) AS u(a, b)) AS score
    FROM ${table} c
    WHERE c.embed_dimensions = ${query.length} AND ${where}
    ORDER BY score DESC, c.chunk_id
    LIMIT ${limit}`;
}
