import { applyMigrations } from './migrate';
import { buildTenantTables, type TenantTables } from './schema/tenant';
import type { Migration } from './types';
import { tenantSchemaName } from '../ids';
import type { ObjectStoreFactory } from '../storage/object-store';
import { tenantBucket, type DataPlane, type DataPlanes } from '../tenants/data-plane';
import { openPostgres, type OpenDb } from './postgres';

const tableCache = new Map<string, TenantTables>();
function tablesFor(schema: string): TenantTables {
  let t = tableCache.get(schema);
  if (!t) tableCache.set(schema, (t = buildTenantTables(schema)));
  return t;
}

/**
 * Server mode: each tenant has its own database on the PostgreSQL server (named
 * `{prefix}{tenant_id with - as _}`), reached with the control plane's credentials, and its
 * own bucket.
 */
export function perDatabasePlanes(opts: {
  controlUrl: string;
  databasePrefix: string;
  migrations: Migration[];
  stores: ObjectStoreFactory;
  bucketPrefix: string;
  /** Connections per tenant pool; small, since a process may serve many tenants. */
  poolSize?: number;
  storageCheck: () => Promise<void>;
}): DataPlanes {
  const open = new Map<string, Promise<OpenDb>>();
  const dbName = (tenantId: string) => `${opts.databasePrefix}${tenantId.replaceAll('-', '_')}`;
  const urlFor = (tenantId: string) => {
    const u = new URL(opts.controlUrl);
    u.pathname = `/${dbName(tenantId)}`;
    return u.toString();
  };
  const connect = (tenantId: string) => {
    let p = open.get(tenantId);
    if (!p) {
      p = openPostgres(urlFor(tenantId), { max: opts.poolSize ?? 4 });
      p.catch(() => open.delete(tenantId));
      open.set(tenantId, p);
    }
    return p;
  };
  return {
    async provision(tenantId) {
      const database = dbName(tenantId);
      const admin = await openPostgres(opts.controlUrl, { max: 1 });
      try {
        const exists = await admin.client`SELECT 1 FROM pg_database WHERE datname = ${database}`;
        if (!exists.length) await admin.client.unsafe(`CREATE DATABASE "${database}"`);
      } finally {
        await admin.close();
      }
      const schema = tenantSchemaName(tenantId);
      const { db } = await connect(tenantId);
      await applyMigrations(db, opts.migrations, { schema, tenantSchema: schema });
      const bucket = tenantBucket(opts.bucketPrefix, tenantId);
      await opts.stores(bucket).ensure();
      return { database, bucket, schema };
    },
    async forTenant(tenantId): Promise<DataPlane> {
      const { db, capabilities } = await connect(tenantId);
      const schema = tenantSchemaName(tenantId);
      return { tenantId, db, tables: tablesFor(schema), store: opts.stores(tenantBucket(opts.bucketPrefix, tenantId)), capabilities };
    },
    async destroy(tenantId) {
      const p = open.get(tenantId);
      open.delete(tenantId);
      if (p) await (await p).close();
      const admin = await openPostgres(opts.controlUrl, { max: 1 });
      try {
        await admin.client.unsafe(`DROP DATABASE IF EXISTS "${dbName(tenantId)}" WITH (FORCE)`);
      } finally {
        await admin.close();
      }
      await opts.stores(tenantBucket(opts.bucketPrefix, tenantId)).destroy();
    },
    storageCheck: () => opts.storageCheck(),
    async close() {
      const all = [...open.values()];
      open.clear();
      await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close()));
    },
  };
}
