import { sql } from 'drizzle-orm';
import { applyMigrations, rowsOf } from './migrate';
import { openPostgres } from './postgres';
import type { Db, Migration } from './types';

/** pg_advisory_lock key of control-plane migrations: one applier at a time across isolates and containers. */
const CONTROL_MIGRATION_LOCK = 7_346_120_001;

/**
 * Brings the control plane's schema up to the bundled migrations, for runtimes that start many
 * times a minute (Workers isolates, Lambda containers). The common case costs one query: the
 * ledger already lists every tag. Otherwise the migrations run on one dedicated connection under
 * a session advisory lock, so concurrent cold starts never apply the same migration twice.
 * `closeAfter` false leaves that connection to the runtime (Workers close sockets when the
 * invocation ends, and postgres.js's end() misbehaves there: porsager/postgres#1202).
 */
export async function ensureControlSchema(control: Db, databaseUrl: string, migrations: Migration[], opts: { closeAfter: boolean }): Promise<'current' | 'migrated'> {
  try {
    const rows = rowsOf<{ tag: string }>(await control.execute(sql`SELECT tag FROM public.frostbyte_migrations`));
    const applied = new Set(rows.map((r) => r.tag));
    if (migrations.every((m) => applied.has(m.tag))) return 'current';
  } catch {
    // No ledger yet: a fresh database.
  }
  const admin = await openPostgres(databaseUrl, { max: 1 });
  try {
    await admin.client`SELECT pg_advisory_lock(${CONTROL_MIGRATION_LOCK})`;
    try {
      await applyMigrations(admin.db, migrations, { schema: 'public' });
    } finally {
      await admin.client`SELECT pg_advisory_unlock(${CONTROL_MIGRATION_LOCK})`;
    }
  } finally {
    if (opts.closeAfter) await admin.close();
  }
  return 'migrated';
}
