import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { issueToken, type Scope } from '../../shared/auth/tokens';
import { ManualClock, systemClock, type Clock } from '../../shared/clock';
import { loadEnv } from '../../shared/config/env';
import { silentLogger } from '../../shared/log';
import { createTenant } from '../../shared/tenants/tenants';
import { buildApi } from '../../functions/api';
import { wireNode, type NodeRuntime } from '../../functions/node/wire';
import { startPipelineDriver } from '../../shared/node/pipeline-driver';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type DbKind = 'pglite' | 'postgres';

export interface TestRuntime extends NodeRuntime {
  app: ReturnType<typeof buildApi>;
  dataDir: string;
  driver: ReturnType<typeof startPipelineDriver> | null;
  /** Creates a tenant with a unique id built from `base`. */
  tenant(base?: string): Promise<string>;
  token(tenantId: string | null, scopes: Scope[], opts?: { ttlSeconds?: number; sub?: string }): Promise<string>;
}

let counter = 0;
export function uniqueName(base: string) {
  return `${base}-${process.pid.toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * A full Frostbyte runtime for one test file: in-memory PGlite or a fresh database on the
 * PostgreSQL server (tenant databases share its unique prefix and are dropped on close).
 */
export async function startRuntime(kind: DbKind, overrides: Record<string, string> = {}, opts: { clock?: Clock; pipeline?: boolean } = {}): Promise<TestRuntime> {
  const dataDir = mkdtempSync(join(tmpdir(), 'frostbyte-test-'));
  const envSource: Record<string, string> = { FROSTBYTE_DATA_DIR: dataDir, ...overrides };
  let dropDatabases: (() => Promise<void>) | null = null;
  if (kind === 'postgres') {
    const prefix = `fbt_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE "${prefix}"`);
    await admin.end();
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${prefix}`;
    envSource.DATABASE_URL = url.toString();
    envSource.TENANT_DATABASE_PREFIX = `${prefix}_`;
    dropDatabases = async () => {
      const sql = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      const dbs = await sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${`${prefix}%`}`;
      for (const { datname } of dbs) await sql.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      const roles = await sql<{ rolname: string }[]>`SELECT rolname FROM pg_roles WHERE rolname LIKE ${`${prefix}%`}`;
      for (const { rolname } of roles) await sql.unsafe(`DROP ROLE IF EXISTS "${rolname}"`);
      await sql.end();
    };
  }
  const env = loadEnv(envSource);
  let app: ReturnType<typeof buildApi> | null = null;
  const rt = await wireNode(env, {
    holder: 'test', log: silentLogger, clock: opts.clock ?? systemClock, pglite: { inMemory: true }, parser: opts.pipeline,
    // Step messages go through the real step routes, in process.
    stepsFetch: async (url, init) => (app as ReturnType<typeof buildApi>).request(url, init),
  });
  app = buildApi(rt.services);
  const driver = opts.pipeline ? startPipelineDriver(rt.services, { intervalMs: 200 }) : null;
  return {
    ...rt,
    app,
    dataDir,
    async tenant(base = 't') {
      const id = uniqueName(base).slice(0, 40);
      await createTenant(rt.services, { tenantId: id, actor: 'test' });
      return id;
    },
    async token(tenantId, scopes, o = {}) {
      const { token } = await issueToken(rt.services.keys, rt.services.clock, rt.services.tokens, {
        sub: o.sub ?? 'test-user', tenantId, scopes, ttlSeconds: o.ttlSeconds ?? 3600,
      });
      return token;
    },
    driver,
    async close() {
      await driver?.stop();
      await rt.close();
      await dropDatabases?.();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export { ManualClock };
