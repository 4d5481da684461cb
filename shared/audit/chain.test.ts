import { randomBytes } from 'node:crypto';
import { and, asc, eq, sql } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { databaseUrl } from '../../tests/harness/services';
import { ManualClock } from '../clock';
import { applyMigrations } from '../db/migrate';
import { auditEvents, auditHeads } from '../db/schema/control';
import { buildTenantTables, type TenantTables } from '../db/schema/tenant';
import type { Db } from '../db/types';
import { AppError } from '../http/errors';
import { tenantSchemaName } from '../ids';
import { openPglite, openPostgres } from '../node/databases';
import { loadMigrations } from '../node/migrations';
import { nodeSha256 } from '../node/sha256';
import {
  appendEvents,
  AuditEventInvalidError,
  flushAuditOutbox,
  GENESIS_HASH,
  getEvent,
  getProvenanceChain,
  listEvents,
  recordEvent,
  recordEvents,
  verifyLogChain,
  type AuditEvent,
  type AuditEventInput,
} from './index';

type Kind = 'pglite' | 'postgres';

interface TestDb {
  db: Db;
  /** Another handle on the same database: appends through it are not grouped with `db`'s. */
  extraHandle(): Promise<Db>;
  close(): Promise<void>;
}

/** In-memory PGlite, or a database of its own on the PostgreSQL server (dropped afterwards). */
async function openTestDb(kind: Kind): Promise<TestDb> {
  if (kind === 'pglite') {
    // 'memory://' rather than undefined: PGlite ignores the options argument when dataDir is undefined.
    const { db, pg, close } = await openPglite('memory://');
    await applyMigrations(db, loadMigrations('control'), { schema: 'public' });
    return { db, close, extraHandle: async () => drizzlePglite(pg) as unknown as Db };
  }
  const name = `fb_audit_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(databaseUrl(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  // Pool as large as the number of concurrent writers, so they really contend for the head row.
  const opened = await openPostgres(url.toString(), { max: 20 });
  await applyMigrations(opened.db, loadMigrations('control'), { schema: 'public' });
  const extra: { close(): Promise<void> }[] = [];
  return {
    db: opened.db,
    async extraHandle() {
      const h = await openPostgres(url.toString(), { max: 1 });
      extra.push(h);
      return h.db;
    },
    async close() {
      for (const h of extra) await h.close();
      await opened.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** The database's own message for a refused statement (drizzle wraps it as the error's cause). */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? cause.message : String(err);
  }
  return 'statement succeeded';
}

let tenantCounter = 0;
const newTenant = () => `t-${randomBytes(3).toString('hex')}-${tenantCounter++}`;

async function chainOf(db: Db, tenantId: string): Promise<AuditEvent[]> {
  const page = await listEvents(db, tenantId, { limit: 1000 });
  const all = [...page.events];
  let cursor = page.next_cursor;
  while (cursor) {
    const next = await listEvents(db, tenantId, { limit: 1000, cursor });
    all.push(...next.events);
    cursor = next.next_cursor;
  }
  return all;
}

async function createPlane(db: Db, tenantId: string): Promise<TenantTables> {
  const schema = tenantSchemaName(tenantId);
  await applyMigrations(db, loadMigrations('tenant'), { schema, tenantSchema: schema });
  return buildTenantTables(schema);
}

const docEvent = (resourceId: string, details: Record<string, unknown> = {}, type: AuditEventInput['event_type'] = 'DOCUMENT_PARSED'): AuditEventInput => ({
  event_type: type,
  actor: 'system',
  resource_type: 'document',
  resource_id: resourceId,
  details: { component: 'test', ...details },
});

describe.each<Kind>(['pglite', 'postgres'])('audit chain on %s', (kind) => {
  let t: TestDb;
  const clock = new ManualClock();
  beforeAll(async () => {
    t = await openTestDb(kind);
  });
  afterAll(async () => {
    await t?.close();
  });

  test('20 concurrent writers × 100 events for one new tenant give one gap-free, linear chain', async () => {
    const tenantId = newTenant();
    // Writers 0–9 each have their own database handle (connection), so their transactions
    // contend for the head row in the database; writers 10–19 share one handle, so their appends
    // are grouped into shared transactions. All start on a tenant without a head row: they also
    // race to create it.
    const own = await Promise.all(Array.from({ length: 10 }, () => t.extraHandle()));
    await Promise.all(
      Array.from({ length: 20 }, async (_, w) => {
        // Own-handle writers append 5 events per call (each call is a real transaction); the
        // others one per call (grouped by appendEvents).
        const [db, perCall] = w < 10 ? [own[w], 5] : [t.db, 1];
        for (let i = 0; i < 100; i += perCall) {
          const events = Array.from({ length: perCall }, (_, k) => docEvent(`doc_w${w}`, { writer: w, n: i + k }));
          await appendEvents(db, tenantId, events, clock, { sha256: nodeSha256 });
        }
      }),
    );

    const chain = await chainOf(t.db, tenantId);
    expect(chain).toHaveLength(2000);
    expect(chain.map((e) => e.seq)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    chain.forEach((e, i) => expect(e.prev_hash).toBe(i === 0 ? GENESIS_HASH : chain[i - 1].hash));
    expect(new Set(chain.map((e) => e.hash)).size).toBe(2000);
    // Each writer's events keep its own order, and each writer's resource is one provenance line.
    for (let w = 0; w < 20; w++) {
      const mine = chain.filter((e) => e.resource_id === `doc_w${w}`);
      expect(mine.map((e) => e.details.n)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      mine.forEach((e, i) => expect(e.previous_event_id).toBe(i === 0 ? null : mine[i - 1].event_id));
    }
    expect(await verifyLogChain(t.db, tenantId, {}, { sha256: nodeSha256 })).toMatchObject({ valid: true, checked: 2000, first_seq: 1, last_seq: 2000 });
    const [head] = await t.db.select().from(auditHeads).where(eq(auditHeads.tenantId, tenantId));
    expect(head).toMatchObject({ lastSeq: 2000, lastHash: chain[1999].hash, lastEventId: chain[1999].event_id });
    const provenance = await getProvenanceChain(t.db, tenantId, 'doc_w7');
    expect(provenance).toMatchObject({ valid: true, length: 100, break: null });
  });

  test('grouped appends: one caller failing does not fail the others', async () => {
    const tenantId = newTenant();
    const [taken] = (await appendEvents(t.db, newTenant(), [docEvent('doc_elsewhere')], clock)).events;
    const calls = Array.from({ length: 8 }, (_, i) =>
      appendEvents(t.db, tenantId, [i === 3 ? { ...docEvent('doc_g'), event_id: taken.event_id } : docEvent('doc_g', { i })], clock),
    );
    const settled = await Promise.allSettled(calls);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const chain = await chainOf(t.db, tenantId);
    expect(chain.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await verifyLogChain(t.db, tenantId)).toMatchObject({ valid: true, checked: 7 });
    expect(await getProvenanceChain(t.db, tenantId, 'doc_g')).toMatchObject({ valid: true, length: 7 });
  });

  test('the database refuses UPDATE, DELETE and TRUNCATE of audit events', async () => {
    const tenantId = newTenant();
    const { events } = await appendEvents(t.db, tenantId, [docEvent('doc_a'), docEvent('doc_b')], clock);
    const id = events[0].event_id;
    expect(await refusal(t.db.execute(sql`UPDATE audit_events SET actor = 'mallory' WHERE event_id = ${id}`))).toMatch(/append-only: UPDATE refused/);
    expect(await refusal(t.db.execute(sql`DELETE FROM audit_events WHERE event_id = ${id}`))).toMatch(/append-only: DELETE refused/);
    expect(await refusal(t.db.execute(sql`TRUNCATE audit_events`))).toMatch(/append-only: TRUNCATE refused/);
    const rows = await t.db.select().from(auditEvents).where(eq(auditEvents.tenantId, tenantId));
    expect(rows.map((r) => r.actor)).toEqual(['system', 'system']);
  });

  test('an event altered behind the triggers (table owner) is found by both verifiers', async () => {
    const tenantId = newTenant();
    await appendEvents(t.db, tenantId, [docEvent('doc_x', { output_hash: 'a'.repeat(64) }), docEvent('doc_x', { input_hash: 'a'.repeat(64) }), docEvent('doc_y')], clock);
    expect(await verifyLogChain(t.db, tenantId)).toMatchObject({ valid: true, checked: 3 });
    // Only the owner can do this, and it is exactly what the log chain exists to expose.
    await t.db.transaction(async (tx) => {
      await tx.execute(sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`);
      await tx.execute(sql`UPDATE audit_events SET details = '{"component":"test","input_hash":"forged"}'::jsonb WHERE tenant_id = ${tenantId} AND seq = 2`);
      await tx.execute(sql`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`);
    });
    expect(await verifyLogChain(t.db, tenantId)).toMatchObject({ valid: false, checked: 1, break: { seq: 2, reason: 'HASH_MISMATCH' } });
    expect(await getProvenanceChain(t.db, tenantId, 'doc_x')).toMatchObject({ valid: false, break: { position: 1, seq: 2, reason: 'HASH_MISMATCH' } });
    // A stretch that ends before the edit still verifies.
    expect(await verifyLogChain(t.db, tenantId, { to_seq: 1 })).toMatchObject({ valid: true, checked: 1 });
  });

  test('appending an event_id already in the chain is a no-op, and inputs are validated', async () => {
    const tenantId = newTenant();
    const first = await appendEvents(t.db, tenantId, [{ ...docEvent('doc_r'), event_id: 'evt_replay1' }], clock);
    const again = await appendEvents(t.db, tenantId, [{ ...docEvent('doc_r'), event_id: 'evt_replay1' }, { ...docEvent('doc_r'), event_id: 'evt_replay2' }], clock);
    expect(first.events).toHaveLength(1);
    expect(again.skipped).toEqual(['evt_replay1']);
    expect(again.events.map((e) => [e.event_id, e.seq, e.previous_event_id])).toEqual([['evt_replay2', 2, 'evt_replay1']]);
    await expect(appendEvents(t.db, tenantId, [{ ...docEvent('doc_r'), event_type: 'NOT_A_TYPE' as 'DOCUMENT_PARSED' }], clock)).rejects.toBeInstanceOf(AuditEventInvalidError);
    await expect(appendEvents(t.db, tenantId, [{ ...docEvent('doc_r'), details: { n: Number.NaN } }], clock)).rejects.toThrow(/details/);
    await expect(appendEvents(t.db, 'Not_A_Tenant', [docEvent('doc_r')], clock)).rejects.toThrow(/tenant id/);
  });

  test('a tenant-lifecycle append inside the caller transaction rolls back with it', async () => {
    const tenantId = newTenant();
    await expect(
      t.db.transaction(async (tx) => {
        await appendEvents(tx, tenantId, [{ event_type: 'TENANT_CREATED', actor: 'admin', resource_type: 'tenant', resource_id: tenantId }], clock);
        throw new Error('provisioning failed');
      }),
    ).rejects.toThrow('provisioning failed');
    expect(await chainOf(t.db, tenantId)).toEqual([]);
    await t.db.transaction(async (tx) => {
      await appendEvents(tx, tenantId, [{ event_type: 'TENANT_CREATED', actor: 'admin', resource_type: 'tenant', resource_id: tenantId }], clock);
    });
    expect((await chainOf(t.db, tenantId)).map((e) => [e.seq, e.event_type, e.prev_hash])).toEqual([[1, 'TENANT_CREATED', GENESIS_HASH]]);
  });

  test('outbox events are chained in ordinal order once, even with concurrent flushers and a crash before marking', async () => {
    const tenantId = newTenant();
    const tables = await createPlane(t.db, tenantId);
    // A state change whose transaction fails records nothing.
    await expect(
      t.db.transaction(async (tx) => {
        await recordEvent(tx, tables, docEvent('doc_lost'), clock);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    for (let b = 0; b < 10; b++) {
      await t.db.transaction(async (tx) => {
        await recordEvents(tx, tables, Array.from({ length: 30 }, (_, i) => docEvent(`doc_${i % 7}`, { b, i })), clock);
      });
    }
    const recorded = await t.db.select().from(tables.auditOutbox).orderBy(asc(tables.auditOutbox.ordinal));
    // A flush that appended the first 45 rows and crashed before marking them.
    await appendEvents(
      t.db,
      tenantId,
      recorded.slice(0, 45).map((r) => ({ event_id: r.eventId, event_type: 'DOCUMENT_PARSED', timestamp: r.timestamp, actor: r.actor, resource_type: 'document', resource_id: r.resourceId, details: r.details })),
      clock,
    );

    const results = await Promise.all(Array.from({ length: 4 }, () => flushAuditOutbox(t.db, t.db, tables, tenantId, { clock, sha256: nodeSha256, batchSize: 40 })));
    expect(results.reduce((n, r) => n + r.appended, 0)).toBe(255);
    expect(results.reduce((n, r) => n + r.skipped, 0)).toBeGreaterThanOrEqual(45);
    expect(await flushAuditOutbox(t.db, t.db, tables, tenantId, { clock })).toEqual({ appended: 0, skipped: 0 });

    const chain = await chainOf(t.db, tenantId);
    expect(chain.map((e) => e.event_id)).toEqual(recorded.map((r) => r.eventId));
    expect(chain.every((e) => e.resource_id !== 'doc_lost')).toBe(true);
    const pending = await t.db.select().from(tables.auditOutbox).where(sql`${tables.auditOutbox.appendedAt} IS NULL`);
    expect(pending).toEqual([]);
    expect(await verifyLogChain(t.db, tenantId)).toMatchObject({ valid: true, checked: 300 });
    for (let d = 0; d < 7; d++) expect(await getProvenanceChain(t.db, tenantId, `doc_${d}`)).toMatchObject({ valid: true });
  });

  test('provenance checks input_hash against the previous step output_hash', async () => {
    const tenantId = newTenant();
    const raw = 'a'.repeat(64);
    const canonical = 'b'.repeat(64);
    await appendEvents(
      t.db,
      tenantId,
      [
        docEvent('doc_good', { output_hash: raw }, 'DOCUMENT_INGESTED'),
        docEvent('doc_good', { input_hash: `sha256:${raw}`, status: 'failure' }, 'DOCUMENT_PARSE_FAILED'),
        docEvent('doc_good', { input_hash: raw, output_hash: canonical }, 'DOCUMENT_PARSED'),
        docEvent('doc_good', { input_hash: canonical, output_hash: 'c'.repeat(64) }, 'DOCUMENT_INDEXED'),
        docEvent('doc_bad', { output_hash: raw }, 'DOCUMENT_INGESTED'),
        docEvent('doc_bad', { input_hash: raw, output_hash: canonical }, 'DOCUMENT_PARSED'),
        docEvent('doc_bad', { input_hash: 'd'.repeat(64) }, 'DOCUMENT_INDEXED'),
      ],
      clock,
    );
    const good = await getProvenanceChain(t.db, tenantId, 'doc_good');
    expect(good).toMatchObject({ valid: true, length: 4, resource_type: 'document', break: null });
    expect(good?.events.map((e) => e.event_type)).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSE_FAILED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);
    const bad = await getProvenanceChain(t.db, tenantId, 'doc_bad');
    expect(bad).toMatchObject({ valid: false, break: { position: 2, reason: 'INPUT_HASH_MISMATCH', expected: canonical, actual: 'd'.repeat(64) } });
    expect(await getProvenanceChain(t.db, tenantId, 'doc_none')).toBeNull();
    expect(await getProvenanceChain(t.db, newTenant(), 'doc_good')).toBeNull();
  });

  test('listing filters by time, resource and type, pages by cursor, and stays inside the tenant', async () => {
    const tenantId = newTenant();
    const other = newTenant();
    const c = new ManualClock(new Date('2026-03-01T00:00:00.000Z'));
    for (let i = 0; i < 30; i++) {
      await appendEvents(t.db, tenantId, [docEvent(`doc_${i % 3}`, { i }, i % 2 ? 'DOCUMENT_INDEXED' : 'DOCUMENT_PARSED')], c);
      c.advance(60_000);
    }
    const [mine] = (await appendEvents(t.db, other, [docEvent('doc_0')], c)).events;

    const p1 = await listEvents(t.db, tenantId, { limit: 12 });
    expect(p1).toMatchObject({ has_more: true, next_cursor: '12' });
    const p2 = await listEvents(t.db, tenantId, { limit: 12, cursor: p1.next_cursor ?? '' });
    const p3 = await listEvents(t.db, tenantId, { limit: 12, cursor: p2.next_cursor ?? '' });
    expect([...p1.events, ...p2.events, ...p3.events].map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(p3).toMatchObject({ has_more: false, next_cursor: null });

    const ranged = await listEvents(t.db, tenantId, { from: '2026-03-01T00:10:00Z', to: '2026-03-01T00:20:00.000Z' });
    expect(ranged.events.map((e) => e.details.i)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const typed = await listEvents(t.db, tenantId, { event_type: 'DOCUMENT_INDEXED', resource_id: 'doc_1' });
    expect(typed.events.map((e) => e.details.i)).toEqual([1, 7, 13, 19, 25]);

    expect(await getEvent(t.db, tenantId, mine.event_id)).toBeNull();
    expect(await getEvent(t.db, other, mine.event_id)).toEqual(mine);
    expect((await listEvents(t.db, other)).events).toEqual([mine]);

    const invalid = await listEvents(t.db, tenantId, { limit: 1001, from: 'yesterday', event_type: 'NOPE', cursor: 'abc' }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(AppError);
    expect((invalid as AppError).extra.errors?.map((p) => p.field).sort()).toEqual(['cursor', 'event_type', 'from', 'limit']);

    expect(await verifyLogChain(t.db, tenantId, { from: '2026-03-01T00:10:00Z', to: '2026-03-01T00:20:00Z' })).toMatchObject({ valid: true, checked: 10, first_seq: 11, last_seq: 20 });
    expect(await verifyLogChain(t.db, newTenant())).toMatchObject({ valid: true, checked: 0 });
  });

  test('details round-trip through jsonb exactly as hashed', async () => {
    const tenantId = newTenant();
    const details = { component: 'test', unicode: 'ü € 𝄞 "q" \\ \n', big: 9007199254740991, frac: 0.1 + 0.2, neg: -0, exp: 1e21, nested: { z: [1, { b: 2, a: 1 }], a: null }, undef: undefined };
    const { events } = await appendEvents(t.db, tenantId, [docEvent('doc_j', details)], clock);
    const rows = await t.db.select().from(auditEvents).where(and(eq(auditEvents.tenantId, tenantId), eq(auditEvents.seq, 1)));
    expect(rows[0].details).toEqual(events[0].details);
    const typeOf = await t.db.execute<{ t: string }>(sql`SELECT jsonb_typeof(details) AS t FROM audit_events WHERE tenant_id = ${tenantId}`);
    expect(JSON.stringify(typeOf)).toContain('object');
    expect(await verifyLogChain(t.db, tenantId)).toMatchObject({ valid: true, checked: 1 });
  });
});
