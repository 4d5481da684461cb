import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { rememberParamTyping } from '../db/param-typing';
import type { Db, DbCapabilities } from '../db/types';

export { openPostgres, type OpenDb } from '../db/postgres';
import type { OpenDb } from '../db/postgres';

/**
 * The embedded database: one PGlite instance (with pgvector) for the control plane and every
 * tenant's schema. `dataDir` undefined means in memory (tests).
 */
export async function openPglite(dataDir?: string, opts: { loadDataDir?: Blob } = {}): Promise<OpenDb & { pg: PGlite }> {
  // Options must be the only argument when there is no data dir: PGlite(undefined, opts) drops them.
  // 256 MB of buffers keeps a 100k-chunk tenant's HNSW index (~200 MB) resident: p95 23 → 17 ms.
  const options = { extensions: { vector }, postgresqlconf: ["shared_buffers = '256MB'"], ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}) };
  const pg = dataDir ? new PGlite(dataDir, options) : new PGlite(options);
  await pg.waitReady;
  // HNSW builds are memory-bound: at PGlite's default 64 MB a 100k-row build took 15 min here.
  await pg.exec(`CREATE EXTENSION IF NOT EXISTS vector; SET maintenance_work_mem = '512MB'`);
  sendFloat4ArraysInBinary(pg);
  const db = rememberParamTyping(drizzlePglite(withoutPerQueryParsers(pg))) as unknown as Db;
  return { db, pg, capabilities: { vector: true, kind: 'pglite' }, close: () => pg.close() };
}

/**
 * Types drizzle asks PGlite to return as text with every query (it maps them itself): timestamp,
 * timestamptz, interval, date and the arrays of those and of numeric.
 */
const DRIZZLE_TEXT_TYPES = new Set([1114, 1184, 1186, 1082, 1231, 1115, 1185, 1187, 1182]);

type PgliteQueryable = Pick<PGlite, 'query'> & { transaction?: PGlite['transaction'] };

/**
 * The PGlite handle drizzle gets: those types are returned as text by PGlite's own parsers, and
 * the same per-query overrides drizzle sends with every query are dropped. PGlite merges
 * per-query parsers into a copy of its ~300 built-in ones on each call, which cost more than a
 * small statement itself (about 100 µs of 200). Results are unchanged.
 */
function withoutPerQueryParsers(pg: PGlite): PGlite {
  for (const oid of DRIZZLE_TEXT_TYPES) pg.parsers[oid] = (value: string) => value;
  const strip = <O extends { parsers?: Record<number, unknown> }>(options: O | undefined): O | undefined => {
    if (!options?.parsers || !Object.keys(options.parsers).every((oid) => DRIZZLE_TEXT_TYPES.has(Number(oid)))) return options;
    const { parsers: _same, ...rest } = options;
    return rest as O;
  };
  const wrap = <T extends PgliteQueryable>(target: T): T =>
    new Proxy(target, {
      get(t, prop) {
        if (prop === 'query') return ((query, params, options) => t.query(query, params, strip(options))) as PGlite['query'];
        if (prop === 'transaction' && t.transaction) return ((fn) => t.transaction!((tx) => fn(wrap(tx)))) as PGlite['transaction'];
        const value = Reflect.get(t, prop, t);
        return typeof value === 'function' ? value.bind(t) : value;
      },
    });
  return wrap(pg);
}

/** PostgreSQL type ids: `real[]` and its element type `real`. */
const FLOAT4_ARRAY_OID = 1021;
const FLOAT4_OID = 700;

/**
 * Number arrays bound to a `real[]` parameter go to PGlite in PostgreSQL's binary array format
 * (array_recv) instead of text: parsing a chunk's 384 decimal floats cost PGlite about 0.7 ms a
 * row, most of an index step's insert. Strings and anything else keep the default serializer.
 */
function sendFloat4ArraysInBinary(pg: PGlite) {
  const serializers = (pg as unknown as { serializers: Record<number, (x: unknown) => unknown> }).serializers;
  const fallback = serializers[FLOAT4_ARRAY_OID];
  serializers[FLOAT4_ARRAY_OID] = (x) => {
    if (Array.isArray(x) && x.length && x.every((v) => typeof v === 'number')) return float4ArrayBinary(x);
    return fallback ? fallback(x) : x;
  };
}

/** Header (ndim, has-nulls, element type, length, lower bound), then length-prefixed big-endian floats. */
function float4ArrayBinary(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(20 + values.length * 8);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, 1);
  view.setInt32(4, 0);
  view.setInt32(8, FLOAT4_OID);
  view.setInt32(12, values.length);
  view.setInt32(16, 1);
  for (let i = 0, at = 20; i < values.length; i++, at += 8) {
    view.setInt32(at, 4);
    view.setFloat32(at + 4, values[i]);
  }
  return bytes;
}
