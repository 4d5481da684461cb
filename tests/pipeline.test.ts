import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEvents } from '../shared/audit/queries';
import { verifyLogChain } from '../shared/audit/queries';
import { batchForm, manifestFor, text, tinyPdf, type TestFile } from './helpers/batch';
import { startRuntime, type DbKind, type TestRuntime } from './helpers/runtime';
import { waitFor } from './helpers/wait';


describe.each<DbKind>(['pglite', 'postgres'])('pipeline on %s', (kind) => {
  let rt: TestRuntime;
  let tenant: string;
  let token: string;
  beforeAll(async () => {
    rt = await startRuntime(kind, { STEP_RETRY_BASE_MS: '50' }, { pipeline: true });
    tenant = await rt.tenant('pipe');
    token = await rt.token(tenant, ['ingest', 'query']);
  });
  afterAll(async () => rt?.close());

  const status = async (batch: string) => (await rt.app.request(`/api/v1/ingest/${tenant}/batch/${batch}`, { headers: { authorization: `Bearer ${token}` } })).json();

  it('takes accepted files through parse and index to indexed, and completes the batch once', async () => {
    const files: TestFile[] = [
      { file_id: 'pdf', filename: 'msa.pdf', mime_type: 'application/pdf', bytes: tinyPdf('Termination for convenience requires ninety days notice') },
      { file_id: 'txt', filename: 'notes.txt', mime_type: 'text/plain', bytes: text('Payment terms\n\nInvoices are due within thirty days of receipt.\n') },
      { file_id: 'csv', filename: 'fees.csv', mime_type: 'text/csv', bytes: text('service,fee\nhosting,1200\nsupport,300\n') },
    ];
    const res = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'pipe-1', files), files), headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(202);
    const final = await waitFor(() => status('pipe-1'), (s) => s.status !== 'processing');
    expect(final.status).toBe('completed');
    expect(final.summary).toMatchObject({ total_files: 3, indexed: 3, failed: 0 });
    for (const f of final.files) {
      expect(f.status).toBe('indexed');
      expect(f.stages.parse.state).toBe('done');
      expect(f.stages.index.state).toBe('done');
      expect(f.stages.index.finished_at).toBeTruthy();
    }
    await rt.driver?.idle();
    const events = await listEvents(rt.services.control, tenant, { limit: 1000 });
    const types = events.events.map((e) => e.event_type);
    expect(types.filter((t) => t === 'BATCH_COMPLETED')).toHaveLength(1);
    expect(types.filter((t) => t === 'DOCUMENT_INDEXED')).toHaveLength(3);
    // Provenance: each step's input_hash is the previous step's output_hash.
    const doc = final.files[0].doc_id;
    const chain = events.events.filter((e) => e.resource_id === doc);
    expect(chain.map((e) => e.event_type)).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);
    expect(chain[1].details.input_hash).toBe(chain[0].details.output_hash);
    expect(chain[2].details.input_hash).toBe(chain[1].details.output_hash);
    expect(chain[1].previous_event_id).toBe(chain[0].event_id);
    expect((await verifyLogChain(rt.services.control, tenant)).valid).toBe(true);
  });

  it('records a parse failure with its reason and still completes the batch', async () => {
    const broken = text('%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis file was cut off in tran');
    const files: TestFile[] = [
      { file_id: 'file_017', filename: 'broken.pdf', mime_type: 'application/pdf', bytes: broken },
      { file_id: 'ok', filename: 'ok.txt', mime_type: 'text/plain', bytes: text('A readable clause about liability caps.\n') },
    ];
    await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'pipe-2', files), files), headers: { authorization: `Bearer ${token}` } });
    const final = await waitFor(() => status('pipe-2'), (s) => s.status !== 'processing');
    expect(final.status).toBe('completed_with_errors');
    const failed = final.files.find((f: { file_id: string }) => f.file_id === 'file_017');
    expect(failed.status).toBe('parse_failed');
    expect(failed.error).toMatchObject({ stage: 'parse', code: 'FILE_CORRUPTED' });
    expect(failed.stages.parse.state).toBe('failed');
    expect(failed.stages.index).toEqual({ state: 'skipped', started_at: null, finished_at: null });
    expect(final.files.find((f: { file_id: string }) => f.file_id === 'ok').status).toBe('indexed');
  });
});
