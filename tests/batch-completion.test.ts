import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEvents } from '../shared/audit/queries';
import { flushAuditOutbox } from '../shared/audit/flush';
import { completeBatchIfDone } from '../shared/intake/batch-status';
import { setFileStage } from '../shared/pipeline/file-state';
import { batchForm, manifestFor, text, type TestFile } from './helpers/batch';
import { startRuntime, type TestRuntime } from './helpers/runtime';

/**
 * On a server, the steps that finish a batch's last files commit concurrently. Each must not
 * conclude from its own snapshot that another file is still running (write skew): the batch
 * completes, and BATCH_COMPLETED is recorded exactly once.
 */
describe('batch completion under concurrent steps (PostgreSQL)', () => {
  let rt: TestRuntime;
  let tenant: string;
  beforeAll(async () => {
    rt = await startRuntime('postgres');
    tenant = await rt.tenant('race');
  });
  afterAll(async () => rt?.close());

  it('completes every batch once when all its files finish at the same moment', async () => {
    const token = await rt.token(tenant, ['ingest']);
    const plane = await rt.services.planes.forTenant(tenant);
    const batches: string[] = [];
    for (let b = 0; b < 8; b++) {
      const files: TestFile[] = [0, 1, 2, 3].map((i) => ({ file_id: `f${i}`, filename: `f${i}.txt`, mime_type: 'text/plain', bytes: text(`batch ${b} file ${i}\n`) }));
      const res = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, `race-${b}`, files), files), headers: { authorization: `Bearer ${token}` } });
      expect((await res.json()).accepted).toBe(4);
      batches.push(`race-${b}`);
    }
    const rows = await plane.db.select().from(plane.tables.files);
    await Promise.all(rows.map((f) => plane.db.transaction(async (tx) => {
      await setFileStage(tx, plane.tables, f.docId, { status: 'indexed', stage: 'index', state: 'done', at: new Date() });
      await completeBatchIfDone(rt.services, tx, plane.tables, f.batchId);
    })));
    for (const id of batches) {
      const [b] = await plane.db.select().from(plane.tables.batches).where(eq(plane.tables.batches.batchId, id));
      expect(b.status, id).toBe('completed');
    }
    await flushAuditOutbox(rt.services.control, plane.db, plane.tables, tenant, { clock: rt.services.clock });
    const done = (await listEvents(rt.services.control, tenant, { event_type: 'BATCH_COMPLETED', limit: 100 })).events;
    expect(done.map((e) => e.resource_id).sort()).toEqual([...batches].sort());
  });
});
