import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { openPglite } from '../shared/node/databases';
import { createIndexSchema } from '../shared/index/testing';
import { LocalHashEmbedder } from '../shared/index/embedder';
import { buildIndexTables } from '../shared/index/schema';
import { indexParsedDocument } from '../shared/index/store';
import { ManualClock } from '../shared/clock';
import { searchChunks } from '../shared/retrieval/search';
const { db, pg, capabilities } = await openPglite('memory://');
await createIndexSchema(db, 't', readFileSync('shared/index/vector-migration.sql', 'utf8'));
const tables = buildIndexTables('t'); const embedder = new LocalHashEmbedder(); const clock = new ManualClock();
for (let d = 0; d < 25; d++) {
  const ps = Array.from({ length: 10 }, (_, i) => `Freight tariff ${d}-${i}: pallets shipped to the depot are charged per kilogram.`);
  let text = ''; const elements: any[] = [];
  for (const p of ps) { if (text) text += '\n\n'; elements.push({ type: 'paragraph', page: 1, start_char: text.length, end_char: text.length + p.length, text: p }); text += p; }
  await indexParsedDocument({ db, tables, embedder, clock }, { doc: { doc_id: `doc_${d}`, source_sha256: 'x', mime_type: 'text/plain', parser: 't', parser_version: '1', full_text: text, pages: [], elements, warnings: [], metadata: {} }, chunking: { targetChars: 50, maxChars: 400 }, lineage: { batchId: 'b', fileId: 'f', originalFilename: 'o', mimeType: 'text/plain', sourceSha256: 'x', ingestedAt: new Date() } });
}
await pg.exec('ANALYZE t.chunks'); await pg.exec(`UPDATE t.chunks SET mime_type = 'application/pdf' WHERE doc_id = 'doc_17'; SET enable_sort = off; SET enable_seqscan = off;`);
for (const iter of ['strict_order', 'off']) {
  await pg.exec(`SET hnsw.iterative_scan = ${iter}; SET hnsw.ef_search = 100`);
  const [q] = await embedder.embed(['freight tariff pallets']);
  const lit = `[${Array.from(q).join(',')}]`;
  const r = await pg.query(`EXPLAIN ANALYZE SELECT c.chunk_id FROM t.chunks c WHERE c.embedding_vec IS NOT NULL AND true AND c.mime_type IN ('application/pdf') ORDER BY c.embedding_vec <=> $1::vector LIMIT 50`, [lit]);
  console.log(iter, r.rows.map((x: any) => x['QUERY PLAN']).filter((l: string) => !l.includes('Order By')).join('\n'));
}
