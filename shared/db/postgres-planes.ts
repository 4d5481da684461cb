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
  /**
   * With a secret, each tenant's database gets a login role of its own (named like the database,
   * password = HMAC-SHA256(secret, tenant id), so nothing per tenant needs storing) and the data
   * plane connects as that role: only it may connect to that database. Without one, data planes
   * use the platform's credentials.
   */
  roleSecret?: string;
}): DataPlanes {
  const open = new Map<string, Promise<OpenDb>>();
  const dbName = (tenantId: string) => `${opts.databasePrefix}${tenantId.replaceAll('-', '_')}`;
  const urlFor = async (tenantId: string, as: 'platform' | 'tenant') => {
    const u = new URL(opts.controlUrl);
    u.pathname = `/${dbName(tenantId)}`;
    if (as === 'tenant' && opts.roleSecret) {
      u.username = dbName(tenantId);
      u.password = await tenantRolePassword(opts.roleSecret, tenantId);
    }
    return u.toString();
  };
  const connect = (tenantId: string) => {
    let p = open.get(tenantId);
    if (!p) {
      p = urlFor(tenantId, 'tenant').then((url) => openPostgres(url, { max: opts.poolSize ?? 4 }));
      p.catch(() => open.delete(tenantId));
      open.set(tenantId, p);
    }
    return p;
  };
  return {
    async provision(tenantId) {
      const database = dbName(tenantId);
      const schema = tenantSchemaName(tenantId);
      const admin = await openPostgres(opts.controlUrl, { max: 1 });
      try {
        const exists = await admin.client`SELECT 1 FROM pg_database WHERE datname = ${database}`;
        if (!exists.length) await admin.client.unsafe(`CREATE DATABASE "${database}"`);
        if (opts.roleSecret) {
          const password = (await tenantRolePassword(opts.roleSecret, tenantId)).replaceAll("'", "''");
          const role = await admin.client`SELECT 1 FROM pg_roles WHERE rolname = ${database}`;
          await admin.client.unsafe(`${role.length ? 'ALTER' : 'CREATE'} ROLE "${database}" LOGIN PASSWORD '${password}'`);
          await admin.client.unsafe(`REVOKE ALL ON DATABASE "${database}" FROM PUBLIC`);
          await admin.client.unsafe(`GRANT CONNECT, TEMPORARY ON DATABASE "${database}" TO "${database}"`);
        }
      } finally {
        await admin.close();
      }
      // Migrations run with the platform's credentials (CREATE EXTENSION needs them); the tenant
      // role then gets exactly the data access the application needs in its own schema.
      const migrator = await openPostgres(await urlFor(tenantId, 'platform'), { max: 1 });
      try {
        await applyMigrations(migrator.db, opts.migrations, { schema, tenantSchema: schema });
        if (opts.roleSecret) {
          for (const statement of [
            `GRANT USAGE ON SCHEMA "${schema}" TO "${database}"`,
            `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO "${database}"`,
            `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "${schema}" TO "${database}"`,
          ]) await migrator.client.unsafe(statement);
        }
      } finally {
        await migrator.close();
      }
      const bucket = tenantBucket(opts.bucketPrefix, tenantId);
      const store = opts.stores(bucket);
      await store.ensure();
      return { database, bucket, schema, ...(store.credentials ? { bucketCredentials: store.credentials } : {}) };
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
        if (opts.roleSecret) await admin.client.unsafe(`DROP ROLE IF EXISTS "${dbName(tenantId)}"`);
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

/** A tenant role's password: HMAC-SHA256(secret, tenant id), hex. Derivable, so never stored. */
export async function tenantRolePassword(secret: string, tenantId: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`frostbyte-tenant-role:${tenantId}`)));
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join('');
}
