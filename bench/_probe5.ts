import { readFileSync } from 'node:fs';
import { openPglite } from '../shared/node/databases';
import { createIndexSchema } from '../shared/index/testing';
import { LocalHashEmbedder } from '../shared/index/embedder';
const N = Number(process.argv[2] ?? 20000);
const { db, pg } = await openPglite('memory://');
await createIndexSchema(db, 't', readFileSync('shared/index/vector-migration.sql', 'utf8'), { withHnsw: false });
const e = new LocalHashEmbedder();
const words = Array.from({ length: 20000 }, (_, i) => 'word' + i.toString(36));
const mk = () => { let t = ''; while (t.length < 780) t += words[Math.floor(Math.random() ** 3 * 20000)] + ' '; return t; };
let t0 = performance.now();
for (let b = 0; b < N / 200; b++) {
  const texts = Array.from({ length: 200 }, mk);
  const vs = await e.embed(texts);
  const rows = texts.map((text, i) => `('c${b * 200 + i}','d${b}','b','f','o','m','s',1,0,10,'{paragraph}',NULL,'${text}','{${Array.from(vs[i]).join(',')}}','m','1',384,now(),now())`);
  await pg.exec(`INSERT INTO t.chunks (chunk_id,doc_id,batch_id,file_id,original_filename,mime_type,source_sha256,page,start_char,end_char,element_types,section_title,text,embedding,embed_model,embed_version,embed_dimensions,ingested_at,created_at) VALUES ${rows.join(',')}`);
}
console.log('load', ((performance.now() - t0) / 1000).toFixed(1), 's');
t0 = performance.now();
await pg.exec(`CREATE INDEX h ON t.chunks USING hnsw (embedding_vec vector_cosine_ops); ANALYZE t.chunks`);
console.log('hnsw', ((performance.now() - t0) / 1000).toFixed(1), 's');
const qs = await e.embed(Array.from({ length: 60 }, () => mk().slice(0, 30)));
for (const [iter, ef] of [['off', 100], ['strict_order', 100], ['relaxed_order', 100], ['off', 64], ['off', 40]] as const) {
  await pg.exec(`SET hnsw.ef_search = ${ef}; SET hnsw.iterative_scan = ${iter}`);
  const ts: number[] = [];
  for (const q of qs) {
    const lit = `[${Array.from(q).join(',')}]`;
    const t1 = performance.now();
    await pg.query(`SELECT chunk_id, 1 - (embedding_vec <=> $1::vector) AS score FROM t.chunks c WHERE embedding_vec IS NOT NULL AND true ORDER BY embedding_vec <=> $1::vector LIMIT 50`, [lit]);
    ts.push(performance.now() - t1);
  }
  ts.sort((a, b) => a - b);
  console.log(iter, ef, 'p50', ts[29].toFixed(2), 'p95', ts[56].toFixed(2));
}
