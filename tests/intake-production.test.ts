import { connect } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quarantineKey, rawKey } from '../shared/storage/object-store';
import { clamdSettings, s3Settings } from './harness/services';
import { eicarBytes } from './harness/eicar';
import { batchForm, manifestFor, sha256, text, type TestFile } from './helpers/batch';
import { startRuntime, type TestRuntime } from './helpers/runtime';
import { freePort } from './helpers/server-process';

/** Intake as production runs it: PostgreSQL, MinIO-compatible S3 (s3rver), a real clamd. */
describe('intake on PostgreSQL + S3 + clamd', () => {
  let rt: TestRuntime;
  let server: ServerType;
  let port: number;
  let tenant: string;
  let token: string;

  beforeAll(async () => {
    const s3 = s3Settings();
    const clamd = clamdSettings();
    rt = await startRuntime('postgres', {
      S3_ENDPOINT: s3.endpoint, S3_REGION: s3.region, S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      S3_BUCKET_PREFIX: 'fbt-', CLAMD_HOST: clamd.host, CLAMD_PORT: String(clamd.port),
    });
    port = await freePort();
    server = serve({ fetch: rt.app.fetch, port, hostname: '127.0.0.1' });
    tenant = await rt.tenant('prod');
    token = await rt.token(tenant, ['ingest']);
  });
  afterAll(async () => {
    server?.close();
    await rt?.close();
  });

  it('is ready with database, S3 and the scanner', async () => {
    const ready = await (await rt.app.request('/health/ready')).json();
    expect(ready.checks).toMatchObject({ database: { status: 'ok', vector_search: 'exact_scan' }, storage: { status: 'ok' }, scanner: { status: 'ok' } });
  });

  it('quarantines malware, stores clean files in the tenant bucket, and says it scanned', async () => {
    const infected = new Uint8Array([...text('Invoice 2291 for consulting services.\n'), ...eicarBytes(), ...text('\n')]);
    const files: TestFile[] = [
      { file_id: 'clean', filename: 'clean.txt', mime_type: 'text/plain', bytes: text('Quarterly invoice for consulting.\n') },
      { file_id: 'virus', filename: 'virus.txt', mime_type: 'text/plain', bytes: infected },
    ];
    const res = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'mal-1', files), files), headers: { authorization: `Bearer ${token}` } });
    const r = await res.json();
    expect(r).toMatchObject({ accepted: 1, quarantined: 1, scan_result: 'scanned' });
    expect(r.quarantined_files[0]).toMatchObject({ file_id: 'virus', reason: 'MALWARE_DETECTED' });
    expect(r.quarantined_files[0].message).toContain('Eicar-Test-Signature');
    const plane = await rt.services.planes.forTenant(tenant);
    expect(await plane.store.head(quarantineKey(tenant, 'virus', sha256(infected)))).toMatchObject({ size: infected.length });
    expect(await plane.store.list(`raw/${tenant}/virus/`)).toEqual([]);
    const stored = await plane.store.getBytes(rawKey(tenant, 'clean', sha256(files[0].bytes)));
    expect(stored && sha256(stored)).toBe(sha256(files[0].bytes));
    const one = await rt.app.request(`/api/v1/ingest/${tenant}/receipt/${r.receipts[0].receipt_id}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await one.json()).scan_result).toBe('clean');
  });

  /** Sends a multipart request by hand over a socket and cuts it off after `cut` bytes of the body. */
  function sendCut(body: Buffer, contentType: string, cut: number, opts: { lieAboutLength?: boolean } = {}) {
    return new Promise<string>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      let answer = '';
      sock.on('data', (d) => (answer += d));
      sock.on('close', () => resolve(answer));
      sock.on('error', () => resolve(answer));
      sock.write(
        `POST /api/v1/ingest/${tenant}/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: ${contentType}\r\nContent-Length: ${opts.lieAboutLength ? body.length + 5000 : body.length}\r\n\r\n`,
      );
      sock.write(body.subarray(0, cut), () => {
        if (opts.lieAboutLength) sock.end();
        else setTimeout(() => sock.destroy(), 200);
      });
    });
  }

  async function formBytes(batchId: string, files: TestFile[]) {
    const req = new Request('http://x/', { method: 'POST', body: batchForm(manifestFor(tenant, batchId, files), files) });
    return { body: Buffer.from(await req.arrayBuffer()), type: req.headers.get('content-type') as string };
  }

  it('keeps nothing from a body that ends early (Content-Length lies) or a client that disconnects mid-file', async () => {
    const big = new Uint8Array(3 * 1024 * 1024).fill(0x61);
    const files: TestFile[] = [
      { file_id: 'a', filename: 'a.txt', mime_type: 'text/plain', bytes: text('first file arrives whole\n') },
      { file_id: 'b', filename: 'b.txt', mime_type: 'text/plain', bytes: big },
    ];
    const lie = await formBytes('cut-1', files);
    const answer = await sendCut(lie.body, lie.type, lie.body.length, { lieAboutLength: true });
    if (answer) expect(answer).toMatch(/HTTP\/1.1 400|UPLOAD_INCOMPLETE/);
    const dropped = await formBytes('cut-2', files);
    await sendCut(dropped.body, dropped.type, Math.floor(dropped.body.length / 2));
    await new Promise((r) => setTimeout(r, 500));

    const plane = await rt.services.planes.forTenant(tenant);
    for (const id of ['cut-1', 'cut-2']) {
      const s = await rt.app.request(`/api/v1/ingest/${tenant}/batch/${id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(s.status).toBe(404);
    }
    expect(await plane.store.list('staging/')).toEqual([]);
    expect(await plane.store.list(`raw/${tenant}/a/`)).toEqual([]);
    // Earlier accepted files are untouched, and the same batch goes through when sent whole.
    expect(await plane.store.list(`raw/${tenant}/clean/`)).toHaveLength(1);
    const whole = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'cut-2', files), files), headers: { authorization: `Bearer ${token}` } });
    expect((await whole.json()).accepted).toBe(2);
  });
});
