import { sql } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { date, integer, interval, numeric, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPglite } from './databases';

const things = pgTable('things', {
  id: text('id').primaryKey(),
  at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
  local: timestamp('local', { mode: 'string' }).notNull(),
  day: date('day').notNull(),
  span: interval('span').notNull(),
  amounts: numeric('amounts').array().notNull(),
  stamps: timestamp('stamps', { withTimezone: true, mode: 'string' }).array().notNull(),
  n: integer('n').notNull(),
});

describe('the embedded database handle', () => {
  let opened: Awaited<ReturnType<typeof openPglite>>;
  beforeAll(async () => {
    opened = await openPglite();
    await opened.pg.exec(`CREATE TABLE things (id text PRIMARY KEY, at timestamptz NOT NULL, local timestamp NOT NULL, day date NOT NULL,
      span interval NOT NULL, amounts numeric[] NOT NULL, stamps timestamptz[] NOT NULL, n integer NOT NULL)`);
  });
  afterAll(() => opened.close());

  it('reads and writes every type drizzle maps itself exactly as plain drizzle over PGlite does', async () => {
    const row = {
      id: 'a', at: new Date('2026-03-04T05:06:07.089Z'), local: '2026-03-04 05:06:07.5', day: '2026-03-04', span: '1 day 02:03:04',
      amounts: ['1.50', '-2', '3.14159'], stamps: ['2026-01-01 00:00:00+00', '2026-06-30 12:00:00.25+00'], n: 7,
    };
    await opened.db.insert(things).values(row);
    const plain = drizzlePglite(opened.pg);
    const ours = await opened.db.select().from(things);
    expect(ours).toEqual(await plain.select().from(things));
    expect(ours[0].at).toEqual(row.at);
    expect(ours[0].amounts).toEqual(['1.50', '-2', '3.14159']);
    // Inside a transaction too, and for raw SQL.
    const inTx = await opened.db.transaction(async (tx) => tx.select().from(things));
    expect(inTx).toEqual(ours);
    const raw = (await opened.db.execute(sql`SELECT at, day, span, n FROM things`)) as unknown as { rows: unknown[] };
    expect(raw.rows).toEqual((await plain.execute(sql`SELECT at, day, span, n FROM things`)).rows);
  });

  it('keeps per-query parsers other than drizzle\'s own', async () => {
    // The client drizzle was given: it drops only the overrides drizzle sends with every query.
    const client = (opened.db as unknown as { $client: typeof opened.pg }).$client;
    const res = await client.query<{ n: string; at: string }>(`SELECT 41 + 1 AS n, timestamptz '2026-01-02 03:04:05+00' AS at`, [], { parsers: { 23: (v: string) => `int:${v}` } });
    expect(res.rows[0]).toEqual({ n: 'int:42', at: '2026-01-02 03:04:05+00' });
  });
});
