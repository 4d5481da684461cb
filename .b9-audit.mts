import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { appendEvents } from './shared/audit';
import { applyMigrations } from './shared/db/migrate';
import { openPostgres } from './shared/node/databases';
import { loadMigrations } from './shared/node/migrations';
import { nodeSha256 } from './shared/node/sha256';
import { systemClock } from './shared/clock';
const admin = postgres('postgres://postgres@127.0.0.1:5432/test', { max: 1, onnotice: () => {} });
await admin.unsafe('DROP DATABASE IF EXISTS fb_b9_audit WITH (FORCE)'); await admin.unsafe('CREATE DATABASE fb_b9_audit');
const o = await openPostgres('postgres://postgres@127.0.0.1:5432/fb_b9_audit', { max: 4 });
await applyMigrations(o.db, loadMigrations('control'), { schema: 'public' });
const ev = (i: number) => ({ event_type: 'DOCUMENT_PARSED' as const, actor: 'system', resource_type: 'document' as const, resource_id: `doc_${i % 50}`, details: { component: 'x', n: i } });
for (const size of [1, 16, 100]) {
  const t = performance.now();
  for (let i = 0; i < 50; i++) await appendEvents(o.db, 'bench-b9', Array.from({ length: size }, (_, k) => ev(i * size + k)), systemClock, { sha256: nodeSha256 });
  console.log(size, 'events/tx: ms per tx', ((performance.now() - t) / 50).toFixed(2));
}
const t = performance.now();
for (let i = 0; i < 50; i++) await o.db.transaction(async (tx) => { await tx.execute(sql`SELECT 1`); });
console.log('empty drizzle tx', ((performance.now() - t) / 50).toFixed(2));
await o.close(); await admin.unsafe('DROP DATABASE IF EXISTS fb_b9_audit WITH (FORCE)'); await admin.end();
