import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { openPglite } from '../shared/node/databases';
import { createIndexSchema } from '../shared/index/testing';
import { LocalHashEmbedder } from '../shared/index/embedder';
const { db, pg } = await openPglite('memory://');
await createIndexSchema(db, 't', readFileSync('shared/index/vector-migration.sql', 'utf8'), { withHnsw: false });
const e = new LocalHashEmbedder();
const words = Array.from({ length: 3000 }, (_, i) => 'word' + i.toString(36));
const mk = () => { let t = ''; while (t.length < 780) t += words[Math.floor(Math.random() ** 2 * 3000)] + ' '; return t; };
for (let b = 0; b < 25; b++) {
  const texts = Array.from({ length: 200 }, mk);
  const vs = await e.embed(texts);
  const rows = texts.map((text, i) => `('c${b * 200 + i}','d${b}','b','f','o','m','s',1,0,10,'{paragraph}',NULL,'${text}','{${Array.from(vs[i]).join(',')}}','m','1',384,now(),now())`);
  await pg.exec(`INSERT INTO t.chunks (chunk_id,doc_id,batch_id,file_id,original_filename,mime_type,source_sha256,page,start_char,end_char,element_types,section_title,text,embedding,embed_model,embed_version,embed_dimensions,ingested_at,created_at) VALUES ${rows.join(',')}`);
}
await pg.exec(`CREATE INDEX h ON t.chunks USING hnsw (embedding_vec vector_cosine_ops); ANALYZE t.chunks`);
const [q] = await e.embed([mk().slice(0, 40)]);
const lit = `[${Array.from(q).join(',')}]`;
for (const iter of ['off', 'strict_order', 'relaxed_order']) {
  await pg.exec(`SET hnsw.ef_search = 100; SET hnsw.iterative_scan = ${iter}`);
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    await pg.query(`SELECT chunk_id, 1 - (embedding_vec <=> $1::vector) AS score FROM t.chunks c WHERE embedding_vec IS NOT NULL AND true ORDER BY embedding_vec <=> $1::vector LIMIT 50`, [lit]);
    console.log(iter, 'vector query', (performance.now() - t0).toFixed(2), 'ms');
  }
}
const r = await pg.query(`EXPLAIN (ANALYZE, BUFFERS) SELECT chunk_id, 1 - (embedding_vec <=> $1::vector) AS score FROM t.chunks c WHERE embedding_vec IS NOT NULL AND true ORDER BY embedding_vec <=> $1::vector LIMIT 50`, [lit]);
console.log(r.rows.map((x: any) => x['QUERY PLAN']).join('\n'));
let t0 = performance.now();
for (let i = 0; i < 100; i++) await db.transaction(async (tx) => { await tx.execute(sql.raw('SET LOCAL hnsw.ef_search = 100')); await tx.execute(sql.raw('SET LOCAL hnsw.iterative_scan = strict_order')); });
console.log('tx overhead', ((performance.now() - t0) / 100).toFixed(2), 'ms');
t0 = performance.now();
for (let i = 0; i < 100; i++) await e.embed(['some query words here']);
console.log('embed query', ((performance.now() - t0) / 100).toFixed(3), 'ms');
