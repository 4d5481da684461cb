import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { rememberParamTyping } from './param-typing';
import postgres from 'postgres';
import type { Db, DbCapabilities } from './types';

export interface OpenDb {
  db: Db;
  capabilities: DbCapabilities;
  close(): Promise<void>;
}

/** A PostgreSQL server over TCP. `max` bounds the pool per database. */
export async function openPostgres(url: string, opts: { max?: number } = {}): Promise<OpenDb & { client: postgres.Sql }> {
  const client = postgres(url, { max: opts.max ?? 10, onnotice: () => {}, idle_timeout: 30 });
  const db = rememberParamTyping(drizzlePostgres(client)) as unknown as Db;
  const ext = await client`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`;
  return { db, client, capabilities: { vector: ext.length > 0, kind: 'postgres' }, close: () => client.end({ timeout: 5 }) };
}
