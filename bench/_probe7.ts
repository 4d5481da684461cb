import { openPglite } from '../shared/node/databases';
import { LocalHashEmbedder } from '../shared/index/embedder';
const { pg } = await openPglite('/tmp/fb-bench-100k-data');
const e = new LocalHashEmbedder();
await pg.exec(`SET hnsw.ef_search = 100; SET hnsw.iterative_scan = strict_order`);
const S = 'tenant_bench';
const texts = (await pg.query<{ text: string }>(`SELECT text FROM ${S}.chunks TABLESAMPLE SYSTEM (0.1) LIMIT 5`)).rows.map((r) => r.text.split(' ').filter((w) => w.length > 5).slice(3, 5).join(' '));
for (const q of texts) {
  const [v] = await e.embed([q]);
  const lit = `[${Array.from(v).join(',')}]`;
  const sqlText = `EXPLAIN (ANALYZE, BUFFERS) WITH side0 AS (SELECT chunk_id, score, row_number() OVER (ORDER BY score DESC, chunk_id) AS rank FROM (SELECT c.chunk_id, ts_rank_cd(c.tsv, q.query)::float8 AS score
    FROM ${S}.chunks c, websearch_to_tsquery('english', $1) AS q(query) WHERE c.tsv @@ q.query AND true ORDER BY score DESC, c.chunk_id LIMIT 50) AS s),
  side1 AS (SELECT chunk_id, score, row_number() OVER (ORDER BY score DESC, chunk_id) AS rank FROM (SELECT c.chunk_id, 1 - (c.embedding_vec <=> $2::vector) AS score
    FROM ${S}.chunks c WHERE c.embedding_vec IS NOT NULL AND true ORDER BY c.embedding_vec <=> $2::vector LIMIT 50) AS s),
  top AS (SELECT chunk_id, score FROM (SELECT chunk_id, sum(1.0::float8 / (60 + rank)) AS score FROM (SELECT chunk_id, rank FROM side0 UNION ALL SELECT chunk_id, rank FROM side1) AS u GROUP BY chunk_id) AS f ORDER BY score DESC, chunk_id LIMIT 5)
  SELECT c.chunk_id, c.doc_id, c.text, top.score FROM top JOIN ${S}.chunks c ON c.chunk_id = top.chunk_id ORDER BY top.score DESC, c.chunk_id`;
  const t0 = performance.now();
  const r = await pg.query(sqlText, [q, lit]);
  console.log('---', q, (performance.now() - t0).toFixed(1), 'ms');
  console.log(r.rows.map((x: any) => x['QUERY PLAN']).filter((l: string) => !l.includes('Order By:') && !l.includes("Index Cond: (embedding")).map((l: string) => l.slice(0, 170)).join('\n'));
}
