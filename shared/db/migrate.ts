import { sql } from 'drizzle-orm';
import type { Db, Migration } from './types';
import { TEMPLATE_SCHEMA } from './schema/tenant';

/**
 * Applies drizzle-kit's generated migrations in journal order, once each. Tenant migrations are
 * generated for the template schema and applied with the tenant's schema name substituted.
 */
export async function applyMigrations(db: Db, migrations: Migration[], opts: { schema: string; tenantSchema?: string }) {
  const ledger = `"${opts.schema}"."frostbyte_migrations"`;
  await db.execute(sql.raw(`CREATE SCHEMA IF NOT EXISTS "${opts.schema}"`));
  await db.execute(sql.raw(`CREATE TABLE IF NOT EXISTS ${ledger} (tag text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`));
  const rows = await db.execute<{ tag: string }>(sql.raw(`SELECT tag FROM ${ledger}`));
  const applied = new Set(rowsOf<{ tag: string }>(rows).map((r) => r.tag));
  for (const m of migrations) {
    if (applied.has(m.tag)) continue;
    const text = opts.tenantSchema ? m.sql.replaceAll(`"${TEMPLATE_SCHEMA}"`, `"${opts.tenantSchema}"`) : m.sql;
    await db.transaction(async (tx) => {
      for (const statement of text.split('--> statement-breakpoint')) {
        if (statement.trim()) await tx.execute(sql.raw(statement));
      }
      await tx.execute(sql.raw(`INSERT INTO ${ledger} (tag) VALUES ('${m.tag.replaceAll("'", "''")}')`));
    });
  }
}

/** drizzle's execute() returns `{ rows }` on PGlite and an array on postgres.js. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
