import { sql } from 'drizzle-orm';
import { applyMigrations } from '../db/migrate';
import { buildTenantTables, type TenantTables } from '../db/schema/tenant';
import type { Db, DbCapabilities, Migration } from '../db/types';
import { tenantSchemaName } from '../ids';
import type { ObjectStoreFactory } from '../storage/object-store';
import { tenantBucket, type DataPlane, type DataPlanes } from '../tenants/data-plane';

const tableCache = new Map<string, TenantTables>();
function tablesFor(schema: string): TenantTables {
  let t = tableCache.get(schema);
  if (!t) tableCache.set(schema, (t = buildTenantTables(schema)));
  return t;
}

/** Embedded default: every tenant is a schema in the one PGlite database. */
export function sharedDatabasePlanes(opts: {
  db: Db;
  capabilities: DbCapabilities;
  migrations: Migration[];
  stores: ObjectStoreFactory;
  bucketPrefix: string;
  storageCheck: () => Promise<void>;
}): DataPlanes {
  return {
    async provision(tenantId) {
      const schema = tenantSchemaName(tenantId);
      await applyMigrations(opts.db, opts.migrations, { schema, tenantSchema: schema });
      const bucket = tenantBucket(opts.bucketPrefix, tenantId);
      const store = opts.stores(bucket);
      await store.ensure();
      return { bucket, schema, ...(store.credentials ? { bucketCredentials: store.credentials } : {}) };
    },
    async forTenant(tenantId) {
      const schema = tenantSchemaName(tenantId);
      return { tenantId, db: opts.db, tables: tablesFor(schema), store: opts.stores(tenantBucket(opts.bucketPrefix, tenantId)), capabilities: opts.capabilities };
    },
    async destroy(tenantId) {
      await opts.db.execute(sql.raw(`DROP SCHEMA IF EXISTS "${tenantSchemaName(tenantId)}" CASCADE`));
      await opts.stores(tenantBucket(opts.bucketPrefix, tenantId)).destroy();
    },
    storageCheck: () => opts.storageCheck(),
    async close() {},
  };
}

