import { uuidv7 } from 'uuidv7';

/** Prefixes of every id Frostbyte mints (DESIGN §8): sortable because UUIDv7 leads with time. */
export type IdPrefix = 'sch' | 'bat' | 'doc' | 'rcp' | 'chk' | 'evt' | 'exp' | 'req' | 'jti' | 'msg' | 'whk' | 'dlv' | 'qry' | 'key';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${uuidv7().replaceAll('-', '')}`;
}

/** Tenant ids are DNS labels (DESIGN §4). */
export const TENANT_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/;

/** Data-plane schema of a tenant: `tenant_<id>` with `-` as `_` (DESIGN §2). */
export function tenantSchemaName(tenantId: string): string {
  if (!TENANT_ID_PATTERN.test(tenantId)) throw new Error(`invalid tenant id: ${tenantId}`);
  return `tenant_${tenantId.replaceAll('-', '_')}`;
}
