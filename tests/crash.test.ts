import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { listEvents, verifyLogChain } from '../shared/audit/queries';
import { rowsOf } from '../shared/db/migrate';
import { openPglite } from '../shared/node/databases';
import { makeDocx, makePdf, makeXlsx } from './fixtures/build';
import { sha256 } from './helpers/batch';
import { run, startServerProcess, type ServerProcess } from './helpers/server-process';

/**
 * Kill -9 the embedded server while the pipeline is between steps, start it again on the same
 * data dir: every accepted file still reaches a terminal state, with no duplicate chunks and no
 * duplicate audit events, and the tenant's chain still verifies.
 */
describe('crash between steps on the embedded default', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'frostbyte-crash-'));
  const work = mkdtempSync(join(tmpdir(), 'frostbyte-crash-files-'));
  let server: ServerProcess | null = null;
  afterAll(async () => {
    await server?.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('finishes every file exactly once after a restart', async () => {
    server = await startServerProcess({ FROSTBYTE_DATA_DIR: dataDir }, { waitFor: /export TOKEN=/ });
    const token = /export TOKEN=(\S+)/.exec(server.output())?.[1] ?? '';
    const files: { name: string; bytes: Uint8Array; mime: string }[] = [];
    for (let i = 0; i < 6; i++) files.push({ name: `contract_${i}.pdf`, bytes: await makePdf({ pages: 8, title: `Contract ${i}` }), mime: 'application/pdf' });
    files.push({ name: 'policy.docx', bytes: makeDocx(), mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' });
    files.push({ name: 'fees.xlsx', bytes: await makeXlsx(), mime: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' });
    for (const f of files) writeFileSync(join(work, f.name), f.bytes);
    writeFileSync(join(work, 'manifest.json'), JSON.stringify({
      batch_id: 'crash-1', tenant_id: 'demo', file_count: files.length,
      files: files.map((f, i) => ({ file_id: `file_${i}`, filename: f.name, mime_type: f.mime, size_bytes: f.bytes.length, sha256: sha256(f.bytes) })),
    }));
    const submit = await run('curl', ['-sS', '-H', `Authorization: Bearer ${token}`, '-F', 'manifest=@manifest.json;type=application/json', ...files.flatMap((f) => ['-F', `files=@${f.name}`]), `${server.url}/api/v1/ingest/demo/batch`], { cwd: work });
    expect(JSON.parse(submit.stdout).accepted).toBe(files.length);

    // Kill as soon as some work is done but not all of it.
    const statusOf = async (s: ServerProcess) => (await fetch(`${s.url}/api/v1/ingest/demo/batch/crash-1`, { headers: { authorization: `Bearer ${token}` } })).json();
    for (let i = 0; i < 400; i++) {
      const s = await statusOf(server);
      const moved = s.files.filter((f: { status: string }) => f.status !== 'received').length;
      if (moved > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const before = await statusOf(server);
    await server.stop('SIGKILL');
    expect(before.status).toBe('processing');

    server = await startServerProcess({ FROSTBYTE_DATA_DIR: dataDir });
    let final = before;
    for (let i = 0; i < 600 && final.status === 'processing'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      final = await statusOf(server);
    }
    expect(final.status).toBe('completed');
    expect(final.files.every((f: { status: string }) => f.status === 'indexed')).toBe(true);
    await server.stop();
    server = null;

    const db = await openPglite(join(dataDir, 'pglite'));
    try {
      const events = (await listEvents(db.db, 'demo', { limit: 1000 })).events;
      const docs = final.files.map((f: { doc_id: string }) => f.doc_id);
      for (const doc of docs) {
        const types = events.filter((e) => e.resource_id === doc).map((e) => e.event_type);
        expect(types.filter((t) => t === 'DOCUMENT_INGESTED')).toHaveLength(1);
        expect(types.filter((t) => t === 'DOCUMENT_PARSED')).toHaveLength(1);
        expect(types.filter((t) => t === 'DOCUMENT_INDEXED')).toHaveLength(1);
      }
      expect(events.filter((e) => e.event_type === 'BATCH_COMPLETED')).toHaveLength(1);
      expect((await verifyLogChain(db.db, 'demo')).valid).toBe(true);
      const counts = rowsOf<{ doc_id: string; n: number; distinct_spans: number }>(await db.db.execute(sql.raw(
        `SELECT doc_id, count(*)::int AS n, count(DISTINCT (start_char, end_char))::int AS distinct_spans FROM tenant_demo.chunks GROUP BY doc_id`)));
      expect(counts).toHaveLength(docs.length);
      for (const c of counts) expect(c.n).toBe(c.distinct_spans);
      const reported = final.files.reduce((n: number, f: { doc_id: string }) => n + (counts.find((c) => c.doc_id === f.doc_id)?.n ?? 0), 0);
      expect(reported).toBeGreaterThan(docs.length);
    } finally {
      await db.close();
    }
  }, 240_000);
});
