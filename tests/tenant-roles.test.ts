import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantRolePassword } from '../shared/db/postgres-planes';
import { batchForm, manifestFor, text, type TestFile } from './helpers/batch';
import { startRuntime, TEST_DATABASE_URL, type TestRuntime } from './helpers/runtime';

const SECRET = 'tenant-role-secret-for-tests-0123456789';

/** On a PostgreSQL server each tenant database has a login role of its own; no role reaches another's. */
describe('a database role per tenant', () => {
  let rt: TestRuntime;
  let a: string;
  let b: string;
  let prefix: string;
  beforeAll(async () => {
    rt = await startRuntime('postgres', { TENANT_DB_ROLE_SECRET: SECRET });
    prefix = rt.services.env.TENANT_DATABASE_PREFIX;
    a = await rt.tenant('role-a');
    b = await rt.tenant('role-b');
  });
  afterAll(async () => rt?.close());

  const connectAs = async (tenant: string, database: string) => {
    const u = new URL(TEST_DATABASE_URL);
    u.username = `${prefix}${tenant.replaceAll('-', '_')}`;
    u.password = await tenantRolePassword(SECRET, tenant);
    u.pathname = `/${prefix}${database.replaceAll('-', '_')}`;
    return postgres(u.toString(), { max: 1, onnotice: () => {} });
  };

  it('serves the tenant through its own role, which cannot connect to another tenant\'s database', async () => {
    const token = await rt.token(a, ['ingest']);
    const f: TestFile[] = [{ file_id: 'r1', filename: 'r1.txt', mime_type: 'text/plain', bytes: text('Role-scoped storage.\n') }];
    const res = await rt.app.request(`/api/v1/ingest/${a}/batch`, { method: 'POST', body: batchForm(manifestFor(a, 'role-1', f), f), headers: { authorization: `Bearer ${token}` } });
    expect((await res.json()).accepted).toBe(1);

    const own = await connectAs(a, a);
    const who = await own`SELECT current_user AS u, count(*)::int AS n FROM ${own(`tenant_${a.replaceAll('-', '_')}`)}.files`;
    expect(who[0]).toEqual({ u: `${prefix}${a.replaceAll('-', '_')}`, n: 1 });
    // Data access only: the tables belong to the platform role.
    await expect(own.unsafe(`DROP TABLE "tenant_${a.replaceAll('-', '_')}".files`)).rejects.toThrow(/must be owner/);
    await own.end();

    const other = await connectAs(a, b);
    await expect(other`SELECT 1`).rejects.toThrow(/permission denied for database/);
    await other.end({ timeout: 1 });
  });

  it('drops the role with the tenant database', async () => {
    await rt.services.planes.destroy(b);
    const sql = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    const roles = await sql`SELECT rolname FROM pg_roles WHERE rolname = ${`${prefix}${b.replaceAll('-', '_')}`}`;
    await sql.end();
    expect(roles).toHaveLength(0);
  });
});
