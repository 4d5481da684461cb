import { PgDialect, date, integer, json, jsonb, numeric, pgTable, text, time, timestamp, uuid } from 'drizzle-orm/pg-core';
import { eq, getTableColumns } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { rememberParamTyping } from './param-typing';

const t = pgTable('t', {
  a: text('a'), b: integer('b'), c: json('c'), d: jsonb('d'), e: numeric('e'), f: time('f'),
  g: timestamp('g', { mode: 'date' }), h: timestamp('h', { mode: 'string' }), i: date('i', { mode: 'date' }), j: date('j', { mode: 'string' }), k: uuid('k'),
});

describe('rememberParamTyping', () => {
  it('answers every column type as drizzle does, asking drizzle once per column', () => {
    const plain = new PgDialect();
    const db = { dialect: new PgDialect() };
    let asked = 0;
    const original = db.dialect.prepareTyping.bind(db.dialect);
    db.dialect.prepareTyping = (encoder) => {
      asked++;
      return original(encoder);
    };
    rememberParamTyping(db);
    const columns = Object.values(getTableColumns(t));
    for (let round = 0; round < 3; round++) {
      for (const column of columns) expect(db.dialect.prepareTyping(column)).toBe(plain.prepareTyping(column));
    }
    expect(asked).toBe(columns.length);
    expect(new Set(columns.map((c) => db.dialect.prepareTyping(c)))).toEqual(new Set(['none', 'json', 'decimal', 'time', 'timestamp', 'date', 'uuid']));
  });

  it('leaves the statements drizzle builds unchanged', () => {
    const fast = rememberParamTyping(drizzle.mock());
    const plain = drizzle.mock();
    const build = (db: typeof plain) => [
      db.insert(t).values({ a: 'x', b: 1, c: { k: 1 }, d: [1], e: '1.5', f: '10:00', g: new Date(0), h: '2026-01-01 00:00:00', i: new Date(0), j: '2026-01-01', k: '00000000-0000-0000-0000-000000000000' }).toSQL(),
      db.select().from(t).where(eq(t.g, new Date(5))).toSQL(),
    ];
    expect(build(fast)).toEqual(build(plain));
  });
});
