import { openPglite } from '../shared/node/databases';
const { pg } = await openPglite('/tmp/fb-bench-100k-data');
for (const s of ['shared_buffers', 'effective_cache_size', 'work_mem', 'maintenance_work_mem']) console.log(s, (await pg.query<any>(`SHOW ${s}`)).rows[0][s]);
console.log((await pg.query(`SELECT relname, pg_size_pretty(pg_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname IN ('tenant_bench','pg_toast') AND pg_relation_size(c.oid) > 10000000 ORDER BY pg_relation_size(c.oid) DESC`)).rows);
