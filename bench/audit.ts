/**
 * `npm run bench:audit [-- --writers 16 --per-writer 500 --events 1000000 --export-db postgres|pglite --skip-append]`
 * — the audit plane's figures (issue 5, DESIGN §6).
 *
 * (a) Append throughput, events/s, for one tenant with N concurrent writers (default 16), each
 *     appending one event per call as pipeline steps do, on the embedded default (PGlite on disk)
 *     and on the PostgreSQL server (DATABASE_URL or postgres://postgres@127.0.0.1:5432/test; a
 *     fresh database is created and dropped). Two shapes: writers sharing the process's handle
 *     (appendEvents groups concurrent calls into one transaction), and — server only — writers on
 *     connections of their own (separate processes: every call is its own transaction).
 *     Goal: ≥ 2,000 events/s on the server.
 * (b) Export + verify of `--events` events (default 1,000,000): the chain is loaded in batches,
 *     exported to a JSON Lines file through openAuditExport, verified with verifyExportFile (what
 *     `frostbyte audit verify` runs: its lines checked on every core), and compared with
 *     `sha256sum` of the same file in the same run. Goal: export + verify ≤ 10 × sha256sum.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import postgres from 'postgres';
import { appendEvents, openAuditExport, type AuditEventInput } from '../shared/audit';
import { systemClock } from '../shared/clock';
import { applyMigrations } from '../shared/db/migrate';
import type { Db } from '../shared/db/types';
import { openPglite, openPostgres } from '../shared/node/databases';
import { loadMigrations } from '../shared/node/migrations';
import { nodeSha256 } from '../shared/node/sha256';
import { verifyExportFile } from '../shared/node/verify-export-file';

const { values: args } = parseArgs({
  options: {
    writers: { type: 'string', default: '16' },
    'per-writer': { type: 'string', default: '500' },
    events: { type: 'string', default: '1000000' },
    'export-db': { type: 'string', default: 'postgres' },
    'skip-append': { type: 'boolean', default: false },
  },
});
const WRITERS = Number(args.writers);
const PER_WRITER = Number(args['per-writer']);
const EVENTS = Number(args.events);
const SERVER_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const log = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A pipeline-like event: a document step with content hashes. */
function stepEvent(doc: string, n: number): AuditEventInput {
  return {
    event_type: 'DOCUMENT_PARSED',
    actor: 'system',
    resource_type: 'document',
    resource_id: doc,
    details: { component: 'parse-worker', input_hash: `${n}`.padStart(64, 'a'), output_hash: `${n}`.padStart(64, 'b'), pipeline_version: '1.0.0', duration_ms: n % 5000, status: 'success' },
  };
}

async function measureAppends(label: string, handles: Db[], tenantId: string): Promise<number> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      const db = handles[w % handles.length];
      for (let i = 0; i < PER_WRITER; i++) await appendEvents(db, tenantId, [stepEvent(`doc_${w}_${i % 50}`, i)], systemClock, { sha256: nodeSha256 });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const rate = (WRITERS * PER_WRITER) / seconds;
  log(`  ${label}: ${fmt(WRITERS * PER_WRITER)} events in ${seconds.toFixed(2)} s = ${fmt(rate)} events/s`);
  return rate;
}

async function withServerDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `fb_bench_audit_${process.pid}`;
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

async function benchAppend(): Promise<void> {
  log(`(a) append throughput, ${WRITERS} concurrent writers × ${PER_WRITER} events, one tenant`);
  const dir = mkdtempSync(join(tmpdir(), 'frostbyte-bench-audit-'));
  try {
    const lite = await openPglite(join(dir, 'pglite'));
    await applyMigrations(lite.db, loadMigrations('control'), { schema: 'public' });
    await measureAppends('embedded (PGlite on disk), shared handle', [lite.db], 'bench-lite');
    await lite.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await withServerDatabase(async (url) => {
    const shared = await openPostgres(url, { max: WRITERS });
    await applyMigrations(shared.db, loadMigrations('control'), { schema: 'public' });
    const rate = await measureAppends('PostgreSQL server, shared handle (grouped)', [shared.db], 'bench-grouped');
    const own = await Promise.all(Array.from({ length: WRITERS }, () => openPostgres(url, { max: 1 })));
    await measureAppends('PostgreSQL server, one connection per writer (ungrouped)', own.map((o) => o.db), 'bench-ungrouped');
    for (const o of own) await o.close();
    await shared.close();
    log(`  goal ≥ 2,000 events/s on the server: ${rate >= 2000 ? 'met' : 'NOT met'}`);
  });
}

async function benchExportVerify(): Promise<void> {
  log(`(b) export + verify of ${fmt(EVENTS)} events (${args['export-db']})`);
  const dir = mkdtempSync(join(tmpdir(), 'frostbyte-bench-audit-'));
  const run = async (db: Db) => {
    await applyMigrations(db, loadMigrations('control'), { schema: 'public' });
    const tenantId = 'bench-export';
    const loadStart = performance.now();
    const BATCH = 5000;
    for (let done = 0; done < EVENTS; done += BATCH) {
      const n = Math.min(BATCH, EVENTS - done);
      await appendEvents(db, tenantId, Array.from({ length: n }, (_, i) => stepEvent(`doc_${(done + i) % 100_000}`, done + i)), systemClock, { sha256: nodeSha256 });
      if ((done / BATCH) % 20 === 0) process.stdout.write(`\r  loading ${fmt(done + n)} / ${fmt(EVENTS)}`);
    }
    log(`\r  loaded ${fmt(EVENTS)} events in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);

    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'EdDSA' }] };
    const file = join(dir, 'events.jsonl');

    // Wall time is what users see; CPU time (this process, or sha256sum's) barely moves when
    // other work shares the machine, so both are printed.
    const cpuSeconds = (since: NodeJS.CpuUsage) => {
      const d = process.cpuUsage(since);
      return (d.user + d.system) / 1e6;
    };
    let t = performance.now();
    let cpu = process.cpuUsage();
    const exp = await openAuditExport(db, tenantId, {}, { sha256: nodeSha256 });
    await pipeline(Readable.fromWeb(exp.body() as NodeReadableStream<Uint8Array>), createWriteStream(file));
    const manifest = await exp.sign({ kid: 'bench', privateKey });
    const exportS = (performance.now() - t) / 1000;
    const exportCpu = cpuSeconds(cpu);

    t = performance.now();
    // `times` prints the shell's and then its children's user and system CPU time.
    const sum = spawnSync('bash', ['-c', `sha256sum '${file}'; times`], { encoding: 'utf8' });
    const shaS = (performance.now() - t) / 1000;
    if (sum.stdout.split(' ')[0] !== manifest.file_sha256) throw new Error('sha256sum disagrees with the manifest');
    const childTimes = [...(sum.stdout.trim().split('\n').pop() ?? '').matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    const shaCpu = childTimes.reduce((a, b) => a + b, 0);

    t = performance.now();
    cpu = process.cpuUsage();
    const result = await verifyExportFile(file, manifest, jwks);
    const verifyS = (performance.now() - t) / 1000;
    const verifyCpu = cpuSeconds(cpu);
    if (!result.ok) throw new Error(`verify failed: ${result.reason}`);

    const mb = statSync(file).size / 1e6;
    const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(1)} ×` : 'n/a');
    log(`  file: ${fmt(mb)} MB`);
    log(`  sha256sum:        ${shaS.toFixed(2)} s wall, ${shaCpu.toFixed(2)} s CPU`);
    log(`  export:           ${exportS.toFixed(2)} s wall (${fmt(EVENTS / exportS)} events/s), ${exportCpu.toFixed(2)} s CPU in this process`);
    log(`  verify:           ${verifyS.toFixed(2)} s wall (${fmt(EVENTS / verifyS)} events/s), ${verifyCpu.toFixed(2)} s CPU (all threads) = ${ratio(verifyS, shaS)} sha256sum wall, ${ratio(verifyCpu, shaCpu)} its CPU`);
    log(`  export + verify:  ${(exportS + verifyS).toFixed(2)} s wall = ${ratio(exportS + verifyS, shaS)} sha256sum (goal ≤ 10 ×)`);
  };
  try {
    if (args['export-db'] === 'pglite') {
      const lite = await openPglite(join(dir, 'pglite'));
      await run(lite.db);
      await lite.close();
    } else {
      await withServerDatabase(async (url) => {
        const pg = await openPostgres(url, { max: 2 });
        await run(pg.db);
        await pg.close();
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!args['skip-append']) await benchAppend();
if (EVENTS > 0) await benchExportVerify();
