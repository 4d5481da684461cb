import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { rememberParamTyping } from '../db/param-typing';
import type { Db, DbCapabilities } from '../db/types';
import { preparedStatementClient } from './pglite-client';

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
  const db = rememberParamTyping(drizzlePglite(preparedStatementClient(pg))) as unknown as Db;
  return { db, pg, capabilities: { vector: true, kind: 'pglite' }, close: () => pg.close() };
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
