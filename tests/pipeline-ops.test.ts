import { sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Embedder } from '../shared/index/embedder';
import { batchForm, manifestFor, text, tinyPdf, type TestFile } from './helpers/batch';
import { startRuntime, type TestRuntime } from './helpers/runtime';
import { settleBatch } from './helpers/wait';
import { runCli } from './helpers/server-process';

/** What support and on-call engineers do with a batch: read the report, find dead letters, retry. */
describe('pipeline operations on the embedded relay', () => {
  let rt: TestRuntime;
  let tenant: string;
  let token: string;
  let admin: string;
  beforeAll(async () => {
    rt = await startRuntime('pglite', { STEP_RETRY_BASE_MS: '20', STEP_MAX_ATTEMPTS: '2' }, { pipeline: true });
    tenant = await rt.tenant('ops');
    token = await rt.token(tenant, ['ingest', 'query']);
    admin = await rt.token(null, ['admin']);
  });
  afterAll(async () => rt?.close());

  const get = (path: string, auth = token, headers: Record<string, string> = {}) => rt.app.request(path, { headers: { authorization: `Bearer ${auth}`, ...headers } });
  const settle = (batch: string) => settleBatch(rt.app, tenant, token, batch);

  it('reports per-file outcome, pages, chunks and a remediation line, as JSON and Markdown', async () => {
    const files: TestFile[] = [
      { file_id: 'good', filename: 'msa.pdf', mime_type: 'application/pdf', bytes: tinyPdf('Limitation of liability is capped at fees paid') },
      { file_id: 'file_017', filename: 'broken.pdf', mime_type: 'application/pdf', bytes: text('%PDF-1.7\n1 0 obj << /Type /Catalog >>\ncut') },
      { file_id: 'bad-hash', filename: 'x.txt', mime_type: 'text/plain', bytes: text('x\n'), sha256: 'b'.repeat(64) },
    ];
    await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'ops-1', files), files), headers: { authorization: `Bearer ${token}` } });
    await settle('ops-1');
    const report = await (await get(`/api/v1/ingest/${tenant}/batch/ops-1/report`)).json();
    const byId = Object.fromEntries(report.files.map((f: { file_id: string }) => [f.file_id, f]));
    expect(byId.good).toMatchObject({ status: 'indexed', pages: 1, remediation: null });
    expect(byId.good.chunks).toBeGreaterThan(0);
    expect(byId.file_017).toMatchObject({ status: 'parse_failed', error: { code: 'FILE_CORRUPTED' } });
    expect(byId.file_017.remediation).toContain('re-export');
    expect(byId['bad-hash'].remediation).toContain('sha256sum');
    const md = await get(`/api/v1/ingest/${tenant}/batch/ops-1/report`, token, { accept: 'text/markdown' });
    expect(md.headers.get('content-type')).toContain('text/markdown');
    const body = await md.text();
    expect(body).toContain('| file_017 | broken.pdf | parse_failed |');
    expect(body).toContain('## What to do');
    const other = await rt.tenant('ops-other');
    expect((await get(`/api/v1/ingest/${other}/batch/ops-1/report`, await rt.token(other, ['query']))).status).toBe(404);
  });

  it('dead-letters a file whose retries ran out, shows why, and finishes it after an operator retry', async () => {
    const working = rt.services.embedder as Embedder;
    rt.services.embedder = { model: working.model, version: working.version, dimensions: working.dimensions, embed: async () => { throw new Error('embedding provider unavailable'); } };
    const files: TestFile[] = [{ file_id: 'file_042', filename: 'sow.txt', mime_type: 'text/plain', bytes: text('Statement of work for the data migration project.\n') }];
    await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'ops-2', files), files), headers: { authorization: `Bearer ${token}` } });
    const failed = await settle('ops-2');
    expect(failed.status).toBe('completed_with_errors');
    expect(failed.files[0]).toMatchObject({ status: 'index_failed', error: { stage: 'index', code: 'RETRIES_EXHAUSTED' } });
    for (let i = 0; i < 50; i++) {
      await rt.driver?.idle();
      const dl = await (await get(`/api/v1/admin/dead-letters?tenant_id=${tenant}`, admin)).json();
      if (dl.dead_letters.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const letters = (await (await get(`/api/v1/admin/dead-letters?tenant_id=${tenant}`, admin)).json()).dead_letters;
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ topic: 'index', file_id: 'file_042', attempts: 2 });
    expect(letters[0].error).toContain('503');
    expect((await get(`/api/v1/admin/dead-letters`, token)).status).toBe(403);

    rt.services.embedder = working;
    const retry = await rt.app.request(`/api/v1/admin/tenants/${tenant}/files/file_042/retry`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(retry.status).toBe(202);
    expect(await retry.json()).toMatchObject({ file_id: 'file_042', resumed_from: 'index' });
    const done = await settle('ops-2');
    expect(done.status).toBe('completed');
    expect(done.files[0].status).toBe('indexed');
    const after = (await (await get(`/api/v1/admin/dead-letters?tenant_id=${tenant}`, admin)).json()).dead_letters;
    expect(after).toHaveLength(0);
    const refused = await rt.app.request(`/api/v1/admin/tenants/${tenant}/files/file_042/retry`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(refused.status).toBe(409);
  });

  it('frostbyte parse prints a summary, or the reason code the pipeline would record', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'frostbyte-parse-'));
    writeFileSync(join(dir, 'ok.pdf'), tinyPdf('Renewal is automatic unless either party objects'));
    writeFileSync(join(dir, 'file_017.pdf'), text('%PDF-1.7\n1 0 obj << /Type /Catalog >>\ncut'));
    const ok = await runCli(['parse', join(dir, 'ok.pdf')], {});
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/page/i);
    const bad = await runCli(['parse', join(dir, 'file_017.pdf')], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('FILE_CORRUPTED');
  }, 60_000);
});

describe('metrics', () => {
  it('serves Prometheus text to admins only, with per-tenant intake, step, queue and retrieval series', async () => {
    const rt = await startRuntime('pglite', {}, { pipeline: true });
    try {
      const tenant = await rt.tenant('metrics');
      const token = await rt.token(tenant, ['ingest', 'query']);
      const files: TestFile[] = [{ file_id: 'm1', filename: 'm1.txt', mime_type: 'text/plain', bytes: text('Audit rights survive termination.\n') }];
      await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'm-1', files), files), headers: { authorization: `Bearer ${token}` } });
      await settleBatch(rt.app, tenant, token, 'm-1');
      await rt.app.request(`/api/v1/query/${tenant}/search`, { method: 'POST', body: JSON.stringify({ query_text: 'audit rights' }), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      expect((await rt.app.request('/metrics', { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
      const res = await rt.app.request('/metrics', { headers: { authorization: `Bearer ${await rt.token(null, ['admin'])}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const body = await res.text();
      expect(body).toContain(`frostbyte_intake_files_total{tenant_id="${tenant}",outcome="accepted"} 1`);
      expect(body).toContain(`frostbyte_intake_bytes_total{tenant_id="${tenant}"} ${files[0].bytes.length}`);
      expect(body).toMatch(new RegExp(`frostbyte_step_duration_seconds_count\\{tenant_id="${tenant}",step="parse",outcome="done"\\} 1`));
      expect(body).toMatch(new RegExp(`frostbyte_retrieval_latency_seconds_count\\{tenant_id="${tenant}",mode="hybrid"\\} 1`));
      expect(body).toContain(`frostbyte_queue_depth_messages{tenant_id="${tenant}"} 0`);
      // The idle driver moves the one chunk into the HNSW graph; until then the gauge counts it.
      await rt.driver?.idle();
      const later = await (await rt.app.request('/metrics', { headers: { authorization: `Bearer ${await rt.token(null, ['admin'])}` } })).text();
      expect(later).toContain(`frostbyte_index_vector_pending_chunks{tenant_id="${tenant}"} 0`);
      await rt.driver?.stop();
      const plane = await rt.services.planes.forTenant(tenant);
      await plane.db.execute(sql.raw(`UPDATE "${getTableConfig(plane.tables.chunks).schema}".chunks SET embedding_vec = NULL`));
      const pending = await (await rt.app.request('/metrics', { headers: { authorization: `Bearer ${await rt.token(null, ['admin'])}` } })).text();
      expect(pending).toContain(`frostbyte_index_vector_pending_chunks{tenant_id="${tenant}"} 1`);
    } finally {
      await rt.close();
    }
  });
});
