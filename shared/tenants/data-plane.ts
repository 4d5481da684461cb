import type { Db, DbCapabilities } from '../db/types';
import type { TenantTables } from '../db/schema/tenant';
import type { BucketCredentials, ObjectStore } from '../storage/object-store';

/**
 * A tenant's data plane (DESIGN §2): its own database (or schema, embedded), its own bucket.
 * Verbs get one from `DataPlanes.forTenant` after the request was resolved to that tenant, and
 * every query they make goes through `tables`, which name only that tenant's schema.
 */
export interface DataPlane {
  tenantId: string;
  db: Db;
  tables: TenantTables;
  store: ObjectStore;
  capabilities: DbCapabilities;
}

export interface DataPlanes {
  /**
   * Creates the database/schema, applies migrations and creates the bucket. Idempotent.
   * `bucketCredentials` says how the bucket's objects are reached (absent for a local folder).
   */
  provision(tenantId: string): Promise<{ database?: string; bucket: string; schema: string; bucketCredentials?: BucketCredentials }>;
  forTenant(tenantId: string): Promise<DataPlane>;
  /** Drops the tenant's database/schema and bucket (deprovisioning). */
  destroy(tenantId: string): Promise<void>;
  /** Readiness probe of the object storage behind every tenant. */
  storageCheck(): Promise<void>;
  close(): Promise<void>;
}

/** Bucket (or folder) name of a tenant. */
export const tenantBucket = (prefix: string, tenantId: string) => `${prefix}${tenantId}`;
