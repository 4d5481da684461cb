import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, tinyPdf } from './helpers/batch';
import { run, runCli, startServerProcess, type ServerProcess } from './helpers/server-process';

/**
 * The embedded default as a vendor meets it: `npm start` on an empty data dir, the printed demo
 * token, and `curl -F` exactly as the vendor guide shows. Then the CLI against the same data dir.
 */
describe('embedded server driven with curl', () => {
  let dataDir: string;
  let work: string;
  let server: ServerProcess;
  let token: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'frostbyte-e2e-'));
    work = mkdtempSync(join(tmpdir(), 'frostbyte-e2e-files-'));
    server = await startServerProcess({ FROSTBYTE_DATA_DIR: dataDir }, { waitFor: /export TOKEN=/ });
    token = /export TOKEN=(\S+)/.exec(server.output())?.[1] ?? '';
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('prints a working demo token and accepts a curl -F batch that reaches indexed', async () => {
    expect(token).toMatch(/^ey/);
    const pdf = tinyPdf('Master services agreement effective January 2026');
    const txt = new TextEncoder().encode('Statement of work: deliver the migration by March.\n');
    writeFileSync(join(work, 'contract_001.pdf'), pdf);
    writeFileSync(join(work, 'sow.txt'), txt);
    writeFileSync(join(work, 'manifest.json'), JSON.stringify({
      batch_id: 'batch_2026-02-08_001', tenant_id: 'demo', file_count: 2,
      files: [
        { file_id: 'file_001', filename: 'contract_001.pdf', mime_type: 'application/pdf', size_bytes: pdf.length, sha256: sha256(pdf) },
        { file_id: 'file_002', filename: 'sow.txt', mime_type: 'text/plain', size_bytes: txt.length, sha256: sha256(txt) },
      ],
    }));
    const curl = await run('curl', [
      '-sS', '-X', 'POST', `${server.url}/api/v1/ingest/demo/batch`,
      '-H', `Authorization: Bearer ${token}`,
      '-F', 'manifest=@manifest.json;type=application/json',
      '-F', 'files=@contract_001.pdf', '-F', 'files=@sow.txt',
    ], { cwd: work });
    expect(curl.code, curl.stderr).toBe(0);
    const receipt = JSON.parse(curl.stdout);
    expect(receipt).toMatchObject({ batch_id: 'batch_2026-02-08_001', accepted: 2, rejected: 0 });

    let status: { status: string; files: { status: string }[] } = { status: 'processing', files: [] };
    for (let i = 0; i < 300 && status.status === 'processing'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const res = await fetch(`${server.url}/api/v1/ingest/demo/batch/batch_2026-02-08_001`, { headers: { authorization: `Bearer ${token}` } });
      status = await res.json();
    }
    expect(status.status).toBe('completed');
    expect(status.files.map((f) => f.status)).toEqual(['indexed', 'indexed']);
  }, 90_000);

  it('answers a vendor host name with the tenant label', async () => {
    const res = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${token}`, '-H', 'Host: demo.localhost', `${server.url}/api/v1/ingest/demo/batch/batch_2026-02-08_001`]);
    expect(res.stdout).toBe('200');
    const wrong = await run('curl', ['-sS', '-H', `Authorization: Bearer ${token}`, '-H', 'Host: other.localhost', `${server.url}/api/v1/ingest/demo/batch/batch_2026-02-08_001`]);
    expect(JSON.parse(wrong.stdout).code).toBe('TENANT_MISMATCH');
  });

  it('refuses to let the CLI open the data dir while the server holds it, then works once it stops', async () => {
    const locked = await runCli(['tenant', 'create', 'acme-corp'], { FROSTBYTE_DATA_DIR: dataDir });
    expect(locked.code).toBe(1);
    expect(locked.stderr).toContain('in use by another Frostbyte process');
    expect(await server.stop()).toBe(0);

    const created = await runCli(['tenant', 'create', 'acme-corp'], { FROSTBYTE_DATA_DIR: dataDir });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('acme-corp is ACTIVE');
    const issued = await runCli(['token', 'issue', '--tenant', 'acme-corp', '--scopes', 'ingest,query', '--ttl', '1h'], { FROSTBYTE_DATA_DIR: dataDir });
    expect(issued.code, issued.stderr).toBe(0);
    expect(issued.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = JSON.parse(Buffer.from(issued.stdout.trim().split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ tenant_id: 'acme-corp', scopes: ['ingest', 'query'] });
    expect(claims.exp - claims.iat).toBe(3600);

    // The restarted server keeps everything and trusts the CLI's token.
    server = await startServerProcess({ FROSTBYTE_DATA_DIR: dataDir });
    const res = await fetch(`${server.url}/api/v1/ingest/acme-corp/batch/nothing-here`, { headers: { authorization: `Bearer ${issued.stdout.trim()}` } });
    expect(res.status).toBe(404);
    const old = await fetch(`${server.url}/api/v1/ingest/demo/batch/batch_2026-02-08_001`, { headers: { authorization: `Bearer ${token}` } });
    expect((await old.json()).status).toBe('completed');
  }, 120_000);

  it('stops start-up with the setting named when a value is bad', async () => {
    await expect(startServerProcess({ FROSTBYTE_DATA_DIR: dataDir, PORT: 'eighty' }, { timeoutMs: 20_000 })).rejects.toThrow(/setting PORT: must be a whole number/);
  }, 30_000);
});
