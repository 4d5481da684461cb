import { PGlite } from '@electric-sql/pglite';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preparedStatementClient } from './pglite-client';

const items = pgTable('items', { id: text('id').primaryKey(), n: integer('n').notNull() });

describe('the prepared-statement PGlite client', () => {
  let pg: PGlite;
  let client: PGlite;
  let db: ReturnType<typeof drizzle>;
  const prepared = async () => (await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_statements')).rows[0].n;

  beforeAll(async () => {
    pg = new PGlite();
    await pg.exec('CREATE TABLE items (id text PRIMARY KEY, n integer NOT NULL)');
    client = preparedStatementClient(pg);
    db = drizzle(client);
  });
  afterAll(() => pg.close());

  it('prepares a statement once and reuses it with other parameters', async () => {
    const before = await prepared();
    for (let i = 0; i < 20; i++) await db.insert(items).values({ id: `a${i}`, n: i });
    expect(await prepared()).toBe(before + 1);
    expect((await db.select().from(items).where(eq(items.id, 'a7')))[0]).toEqual({ id: 'a7', n: 7 });
    const rows = await client.query<{ id: string; n: number }>('SELECT id, n FROM items WHERE n >= $1 ORDER BY n', [18]);
    expect(rows.rows).toEqual([{ id: 'a18', n: 18 }, { id: 'a19', n: 19 }]);
    expect(rows.fields.map((f) => f.name)).toEqual(['id', 'n']);
    expect((await client.query('UPDATE items SET n = n + 1 WHERE n < $1', [5])).affectedRows).toBe(5);
  });

  it('raises PostgreSQL errors with their code and statement, and keeps working after them', async () => {
    const error = await db.insert(items).values({ id: 'a1', n: 1 }).catch((e: unknown) => e);
    // drizzle wraps the driver's error; the database's own error is its cause.
    const cause = (error as { cause?: { code?: string; query?: string } }).cause ?? (error as { code?: string; query?: string });
    expect(cause.code).toBe('23505');
    expect(cause.query).toMatch(/insert into "items"/);
    expect(await db.$count(items)).toBe(20);
  });

  it('rolls a failed transaction back, commits a good one, and keeps savepoints', async () => {
    await expect(db.transaction(async (tx) => {
      await tx.insert(items).values({ id: 'tx1', n: 100 });
      await tx.insert(items).values({ id: 'tx1', n: 101 });
    })).rejects.toThrow();
    expect(await db.select().from(items).where(eq(items.id, 'tx1'))).toEqual([]);

    await db.transaction(async (tx) => {
      await tx.insert(items).values({ id: 'tx2', n: 200 });
      await tx.transaction(async (inner) => {
        await inner.insert(items).values({ id: 'tx3', n: 300 });
        inner.rollback();
      }).catch(() => undefined);
    });
    expect((await db.select().from(items).where(sql`${items.n} >= 200`)).map((r) => r.id)).toEqual(['tx2']);
  });

  it('makes a statement outside a transaction wait for the running transaction', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const tx = client.transaction(async (t) => {
      await t.query('UPDATE items SET n = 1000 WHERE id = $1', ['a0']);
      order.push('tx wrote');
      await gate;
      order.push('tx ends');
    });
    await new Promise((r) => setTimeout(r, 20));
    const outside = client.query<{ n: number }>('SELECT n FROM items WHERE id = $1', ['a0']).then((r) => {
      order.push('outside read');
      return r.rows[0].n;
    });
    await new Promise((r) => setTimeout(r, 20));
    release();
    await tx;
    expect(await outside).toBe(1000);
    expect(order).toEqual(['tx wrote', 'tx ends', 'outside read']);
  });

  it('closes the least recently used statements beyond its cache, and answers them again later', async () => {
    for (let i = 0; i < 300; i++) expect((await client.query<{ v: number }>(`SELECT $1::int + ${i} AS v`, [1])).rows[0].v).toBe(1 + i);
    expect(await prepared()).toBeLessThanOrEqual(256);
    expect((await client.query<{ v: number }>('SELECT $1::int + 0 AS v', [5])).rows[0].v).toBe(5);
  });

  it('prepares again when a table changed under a statement that returns its rows', async () => {
    await pg.exec('CREATE TABLE wide (id int)');
    await pg.exec('INSERT INTO wide VALUES (1)');
    expect((await client.query('SELECT * FROM wide')).rows).toEqual([{ id: 1 }]);
    await pg.exec('ALTER TABLE wide ADD COLUMN label text DEFAULT $$x$$');
    expect((await client.query('SELECT * FROM wide')).rows).toEqual([{ id: 1, label: 'x' }]);
  });

  it('passes a query with options of its own to PGlite unchanged', async () => {
    const res = await client.query<{ n: string }>('SELECT 41 + 1 AS n', [], { parsers: { 23: (v: string) => `int:${v}` } });
    expect(res.rows[0].n).toBe('int:42');
  });
});
