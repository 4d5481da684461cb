import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeToken } from '../shared/auth/tokens';
import { tenants } from '../shared/db/schema/control';
import { rawKey } from '../shared/storage/object-store';
import { batchForm, manifestFor, sha256, text, tinyPdf, type TestFile } from './helpers/batch';
import { startRuntime, type DbKind, type TestRuntime } from './helpers/runtime';

const csv = text('party,amount\nAcme,1200\nGlobex,800\n');
const txt = text('This agreement is made between Acme Corp and Frostbyte.\n');

function files(): TestFile[] {
  return [
    { file_id: 'file_001', filename: 'contract.pdf', mime_type: 'application/pdf', bytes: tinyPdf('Contract one') },
    { file_id: 'file_002', filename: 'notes.txt', mime_type: 'text/plain', bytes: txt },
    { file_id: 'file_003', filename: 'ledger.csv', mime_type: 'text/csv', bytes: csv },
  ];
}

describe.each<DbKind>(['pglite', 'postgres'])('intake gateway on %s', (kind) => {
  let rt: TestRuntime;
  let tenant: string;
  let ingest: string;
  const submit = (tenantId: string, token: string, manifest: unknown, parts: TestFile[] | { filename: string; bytes: Uint8Array }[], headers: Record<string, string> = {}) =>
    rt.app.request(`/api/v1/ingest/${tenantId}/batch`, { method: 'POST', body: batchForm(manifest, parts), headers: { authorization: `Bearer ${token}`, ...headers } });

  beforeAll(async () => {
    rt = await startRuntime(kind, { BATCH_RATE_LIMIT_PER_MINUTE: '50' });
    tenant = await rt.tenant('acme');
    ingest = await rt.token(tenant, ['ingest']);
  });
  afterAll(async () => rt?.close());

  it('accepts a verified batch, stores the exact bytes and reports status per file', async () => {
    const f = files();
    const res = await submit(tenant, ingest, manifestFor(tenant, 'batch-ok', f), f);
    expect(res.status).toBe(202);
    const receipt = await res.json();
    expect(receipt).toMatchObject({ batch_id: 'batch-ok', tenant_id: tenant, file_count: 3, accepted: 3, rejected: 0, quarantined: 0, duplicates: 0, scan_result: 'not_scanned' });
    expect(receipt.receipts.map((r: { status: string }) => r.status)).toEqual(['accepted', 'accepted', 'accepted']);

    const plane = await rt.services.planes.forTenant(tenant);
    for (const file of f) {
      const stored = await plane.store.getBytes(rawKey(tenant, file.file_id, sha256(file.bytes)));
      expect(stored && sha256(stored)).toBe(sha256(file.bytes));
    }
    expect(await plane.store.list('staging/')).toEqual([]);

    const status = await rt.app.request(`/api/v1/ingest/${tenant}/batch/batch-ok`, { headers: { authorization: `Bearer ${ingest}` } });
    expect(status.status).toBe(200);
    const body = await status.json();
    expect(body.status).toBe('processing');
    expect(body.summary).toMatchObject({ total_files: 3, processing: 3, rejected: 0 });
    expect(body.files[0]).toMatchObject({ file_id: 'file_001', original_filename: 'contract.pdf', status: 'received', error: null });
    expect(body.files[0].stages.intake.state).toBe('done');

    const one = await rt.app.request(`/api/v1/ingest/${tenant}/receipt/${receipt.receipts[1].receipt_id}`, { headers: { authorization: `Bearer ${ingest}` } });
    expect(await one.json()).toMatchObject({ file_id: 'file_002', status: 'accepted', sha256: sha256(txt) });
  });

  it('rejects per file with a reason: checksum, format, spoofed type, missing part', async () => {
    const exe = new Uint8Array([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, ...new Array(200).fill(0)]);
    const list: TestFile[] = [
      { file_id: 'good', filename: 'good.txt', mime_type: 'text/plain', bytes: text('good file\n') },
      { file_id: 'bad-hash', filename: 'bad.txt', mime_type: 'text/plain', bytes: text('changed after hashing\n'), sha256: 'a'.repeat(64) },
      { file_id: 'exe', filename: 'tool.exe', mime_type: 'application/pdf', bytes: exe },
      { file_id: 'spoof', filename: 'fake.pdf', mime_type: 'application/pdf', bytes: text('plain text pretending to be a pdf\n') },
      { file_id: 'gone', filename: 'missing.pdf', mime_type: 'application/pdf', bytes: tinyPdf() },
    ];
    const res = await submit(tenant, ingest, manifestFor(tenant, 'batch-mixed', list), list.slice(0, 4));
    expect(res.status).toBe(202);
    const r = await res.json();
    expect(r).toMatchObject({ accepted: 1, rejected: 4 });
    const reasons = Object.fromEntries(r.rejected_files.map((x: { file_id: string; reason: string }) => [x.file_id, x.reason]));
    expect(reasons).toEqual({ 'bad-hash': 'CHECKSUM_MISMATCH', exe: 'UNSUPPORTED_FORMAT', spoof: 'UNSUPPORTED_FORMAT', gone: 'MISSING_FILE' });
    const mismatch = r.rejected_files.find((x: { file_id: string }) => x.file_id === 'bad-hash').message;
    expect(mismatch).toContain('a'.repeat(64));
    expect(mismatch).toContain(sha256(text('changed after hashing\n')));
    const plane = await rt.services.planes.forTenant(tenant);
    expect(await plane.store.list(`raw/${tenant}/bad-hash/`)).toEqual([]);
    expect(await plane.store.list('staging/')).toEqual([]);
    const status = await (await rt.app.request(`/api/v1/ingest/${tenant}/batch/batch-mixed`, { headers: { authorization: `Bearer ${ingest}` } })).json();
    expect(status.summary).toMatchObject({ total_files: 5, rejected: 4, processing: 1 });
    expect(status.files.find((f: { file_id: string }) => f.file_id === 'bad-hash').error).toMatchObject({ stage: 'intake', code: 'CHECKSUM_MISMATCH' });
  });

  it('marks bytes already held as duplicate, pointing at the existing document', async () => {
    const f = [{ file_id: 'dup-1', filename: 'again.txt', mime_type: 'text/plain', bytes: txt }];
    const res = await submit(tenant, ingest, manifestFor(tenant, 'batch-dup', f), f);
    const r = await res.json();
    expect(r.duplicates).toBe(1);
    expect(r.receipts[0].status).toBe('duplicate');
    expect(r.receipts[0].duplicate_of).toMatch(/^doc_/);
  });

  it('replays a resubmitted batch_id with the same manifest and refuses a different one', async () => {
    const f = [{ file_id: 'r1', filename: 'replay.txt', mime_type: 'text/plain', bytes: text('replay me\n') }];
    const first = await (await submit(tenant, ingest, manifestFor(tenant, 'batch-replay', f), f)).json();
    const again = await submit(tenant, ingest, manifestFor(tenant, 'batch-replay', f), f);
    expect(again.status).toBe(202);
    expect(again.headers.get('frostbyte-replayed')).toBe('true');
    expect(await again.json()).toEqual(first);
    const other = [{ ...f[0], bytes: text('different bytes\n') }];
    const conflict = await submit(tenant, ingest, manifestFor(tenant, 'batch-replay', other), other);
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('content-type')).toContain('application/problem+json');
    expect((await conflict.json()).code).toBe('BATCH_ID_CONFLICT');
  });

  it('refuses whole batches with the DESIGN codes', async () => {
    const f = files();
    const cases: [unknown, string, unknown[]?][] = [
      ['{not json', 'MANIFEST_INVALID'],
      [{ ...manifestFor(tenant, 'b1', f), files: [{ file_id: 'x' }], file_count: 1 }, 'MANIFEST_INVALID'],
      [manifestFor('someone-else', 'b2', f), 'MANIFEST_INVALID'],
      [{ ...manifestFor(tenant, 'b3', f), file_count: 5 }, 'MANIFEST_FILE_COUNT_MISMATCH'],
      [manifestFor(tenant, 'b4', [f[0], { ...f[1], file_id: f[0].file_id }]), 'DUPLICATE_FILE_ID'],
    ];
    for (const [manifest, code] of cases) {
      const res = await submit(tenant, ingest, manifest, f);
      expect(res.status, code).toBe(400);
      const problem = await res.json();
      expect(problem).toMatchObject({ status: 400, code });
      expect(problem.request_id).toMatch(/^req_/);
    }
    const invalid = await (await submit(tenant, ingest, { ...manifestFor(tenant, 'b5', f), files: [{ file_id: 'x' }], file_count: 1 }, f)).json();
    expect(invalid.errors.map((e: { field: string }) => e.field)).toContain('files.0.filename');
    // An extra part the manifest does not list is a count mismatch, and nothing is kept.
    const extra = await submit(tenant, ingest, manifestFor(tenant, 'b6', f.slice(0, 1)), f);
    expect((await extra.json()).code).toBe('MANIFEST_FILE_COUNT_MISMATCH');
    const plane = await rt.services.planes.forTenant(tenant);
    expect(await plane.store.list('staging/')).toEqual([]);
    const status = await rt.app.request(`/api/v1/ingest/${tenant}/batch/b6`, { headers: { authorization: `Bearer ${ingest}` } });
    expect(status.status).toBe(404);
  });

  it('answers 404 for another tenant\'s batch and receipt ids', async () => {
    const other = await rt.tenant('globex');
    const otherToken = await rt.token(other, ['ingest', 'query']);
    const f = [{ file_id: 'secret', filename: 'secret.txt', mime_type: 'text/plain', bytes: text('globex secret\n') }];
    const r = await (await submit(other, otherToken, manifestFor(other, 'batch-secret', f), f)).json();
    const asAcme = (path: string) => rt.app.request(path, { headers: { authorization: `Bearer ${ingest}` } });
    expect((await asAcme(`/api/v1/ingest/${tenant}/batch/batch-secret`)).status).toBe(404);
    expect((await asAcme(`/api/v1/ingest/${tenant}/receipt/${r.receipts[0].receipt_id}`)).status).toBe(404);
    const cross = await asAcme(`/api/v1/ingest/${other}/batch/batch-secret`);
    expect(cross.status).toBe(403);
    expect((await cross.json()).code).toBe('TENANT_MISMATCH');
  });
});

describe('authentication and tenancy rules', () => {
  let rt: TestRuntime;
  let tenant: string;
  beforeAll(async () => {
    rt = await startRuntime('pglite', { BATCH_RATE_LIMIT_PER_MINUTE: '2' });
    tenant = await rt.tenant('auth');
  });
  afterAll(async () => rt?.close());
  const get = (token: string | null, path = `/api/v1/ingest/${'T'}/batch/none`, headers: Record<string, string> = {}) =>
    rt.app.request(path.replace('T', tenant), { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });

  it('serves health and readiness without a token', async () => {
    const h = await rt.app.request('/health');
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ status: 'healthy' });
    const ready = await rt.app.request('/health/ready');
    expect(ready.status).toBe(200);
    expect((await ready.json()).checks).toMatchObject({ database: { status: 'ok' }, storage: { status: 'ok' }, scanner: { status: 'not_configured' } });
  });

  it('publishes the JWKS that verifies its tokens', async () => {
    const jwks = await (await rt.app.request('/.well-known/jwks.json')).json();
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(jwks.keys[0].d).toBeUndefined();
  });

  it('maps every auth failure to its code', async () => {
    const codeOf = async (res: Response) => [res.status, (await res.json()).code];
    expect(await codeOf(await get(null))).toEqual([401, 'AUTHENTICATION_REQUIRED']);
    expect(await codeOf(await get('not-a-jwt'))).toEqual([401, 'AUTHENTICATION_REQUIRED']);
    const expired = await rt.token(tenant, ['ingest'], { ttlSeconds: -10 });
    expect(await codeOf(await get(expired))).toEqual([401, 'TOKEN_EXPIRED']);
    const revoked = await rt.token(tenant, ['ingest']);
    const jti = JSON.parse(Buffer.from(revoked.split('.')[1], 'base64url').toString()).jti;
    await revokeToken(rt.services.control, rt.services.clock, { jti, tenantId: tenant, expiresAt: new Date(Date.now() + 3600_000) });
    expect(await codeOf(await get(revoked))).toEqual([401, 'TOKEN_REVOKED']);
    const audit = await rt.token(tenant, ['audit']);
    expect(await codeOf(await get(audit))).toEqual([403, 'INSUFFICIENT_PERMISSIONS']);
    const query = await rt.token(tenant, ['query']);
    const post = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', headers: { authorization: `Bearer ${query}` } });
    expect(await codeOf(post)).toEqual([403, 'INSUFFICIENT_PERMISSIONS']);
    const good = await rt.token(tenant, ['ingest']);
    expect(await codeOf(await get(good, undefined, { host: `someone-else.localhost:8080` }))).toEqual([403, 'TENANT_MISMATCH']);
    expect((await get(good, undefined, { host: `${tenant}.localhost:8080` })).status).toBe(404);
    await rt.services.control.update(tenants).set({ state: 'SUSPENDED' }).where(eq(tenants.id, tenant));
    expect(await codeOf(await get(good))).toEqual([403, 'TENANT_SUSPENDED']);
    await rt.services.control.update(tenants).set({ state: 'ACTIVE' }).where(eq(tenants.id, tenant));
  });

  it('limits batch submissions per tenant per minute with Retry-After', async () => {
    const token = await rt.token(tenant, ['ingest']);
    const statuses: number[] = [];
    let last: Response | null = null;
    for (let i = 0; i < 3; i++) {
      const f = [{ file_id: `f${i}`, filename: `n${i}.txt`, mime_type: 'text/plain', bytes: text(`note ${i}\n`) }];
      last = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, `rl-${i}`, f), f), headers: { authorization: `Bearer ${token}` } });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([202, 202, 429]);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await last?.json()).code).toBe('RATE_LIMIT_EXCEEDED');
  });
});

describe('limits and operator tokens', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startRuntime('pglite', { MAX_FILES_PER_BATCH: '3', MAX_FILE_SIZE_MB: '1' });
  });
  afterAll(async () => rt?.close());

  it('rejects a file over the size limit and a batch over the file limit', async () => {
    const tenant = await rt.tenant('limits');
    const token = await rt.token(tenant, ['ingest']);
    const post = (manifest: unknown, parts: TestFile[]) => rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifest, parts), headers: { authorization: `Bearer ${token}` } });
    const big = new Uint8Array(1024 * 1024 + 10).fill(0x61);
    const f: TestFile[] = [
      { file_id: 'big', filename: 'big.txt', mime_type: 'text/plain', bytes: big },
      { file_id: 'small', filename: 'small.txt', mime_type: 'text/plain', bytes: text('small\n') },
    ];
    const r = await (await post(manifestFor(tenant, 'lim-1', f), f)).json();
    expect(r).toMatchObject({ accepted: 1, rejected: 1 });
    expect(r.rejected_files[0]).toMatchObject({ file_id: 'big', reason: 'SIZE_EXCEEDED' });
    const plane = await rt.services.planes.forTenant(tenant);
    expect(await plane.store.list(`raw/${tenant}/big/`)).toEqual([]);
    const four = [1, 2, 3, 4].map((i) => ({ file_id: `f${i}`, filename: `f${i}.txt`, mime_type: 'text/plain', bytes: text(`file ${i}\n`) }));
    const tooMany = await post(manifestFor(tenant, 'lim-2', four), four);
    expect(tooMany.status).toBe(400);
    expect((await tooMany.json()).code).toBe('BATCH_TOO_LARGE');
  });

  it('lets an operator mint and revoke tokens through the admin API', async () => {
    const tenant = await rt.tenant('tok');
    const admin = await rt.token(null, ['admin']);
    const mint = await rt.app.request('/api/v1/admin/tokens', { method: 'POST', body: JSON.stringify({ tenant_id: tenant, scopes: ['query'], ttl: '15m' }), headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } });
    expect(mint.status).toBe(201);
    const { token, jti } = await mint.json();
    const use = () => rt.app.request(`/api/v1/ingest/${tenant}/batch/none`, { headers: { authorization: `Bearer ${token}` } });
    expect((await use()).status).toBe(404);
    const revoke = await rt.app.request('/api/v1/admin/tokens/revoke', { method: 'POST', body: JSON.stringify({ jti }), headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } });
    expect(revoke.status).toBe(200);
    expect((await (await use()).json()).code).toBe('TOKEN_REVOKED');
    const asTenant = await rt.app.request('/api/v1/admin/tokens', { method: 'POST', body: JSON.stringify({ tenant_id: tenant, scopes: ['admin'] }), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    expect(asTenant.status).toBe(401);
    const bad = await rt.app.request('/api/v1/admin/tokens', { method: 'POST', body: JSON.stringify({ tenant_id: tenant, scopes: ['admin'] }), headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } });
    expect((await bad.json()).errors[0].field).toBe('tenant_id');
  });
});
