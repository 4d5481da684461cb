import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, signManifest, type AuditEvent, type SignedAuditManifest } from '../shared/audit';
import { issueToken, type Scope } from '../shared/auth/tokens';
import { loadEnv } from '../shared/config/env';
import { auditSchedules } from '../shared/db/schema/control-operations';
import { silentLogger } from '../shared/log';
import { createTenant } from '../shared/tenants/tenants';
import { wireNode, type NodeRuntime } from '../functions/node/wire';
import { batchForm, manifestFor, sha256, text } from './helpers/batch';
import { runCli, startServerProcess, type ServerProcess } from './helpers/server-process';

/**
 * The audit CLI as a customer and an operator use it (issue 5 items 3–5, 8): a real embedded
 * server process, a real batch through the pipeline, `frostbyte audit export` over HTTP with an
 * audit token, `frostbyte audit verify` offline against the JWKS from the server URL and from a
 * file — including tampered files and manifests — and `frostbyte audit schedule`, with a missed
 * run caught up when the server starts again.
 */
describe('frostbyte audit against a running server', () => {
  let dataDir: string;
  let work: string;
  let server: ServerProcess;
  const tenant = `acme-${process.pid.toString(36)}`;
  const other = `globex-${process.pid.toString(36)}`;
  const tokens: Record<'audit' | 'ingest' | 'query' | 'otherAudit' | 'admin', string> = { audit: '', ingest: '', query: '', otherAudit: '', admin: '' };
  let docId = '';
  let rangeDir = '';
  const started = new Date(Date.now() - 60_000).toISOString();

  /** The platform's database, opened by the operator while the server is stopped. */
  async function withPlatform<T>(fn: (rt: NodeRuntime) => Promise<T>): Promise<T> {
    const rt = await wireNode(loadEnv({ FROSTBYTE_DATA_DIR: dataDir }), { holder: 'audit-cli test', log: silentLogger });
    try {
      return await fn(rt);
    } finally {
      await rt.close();
    }
  }

  const api = async (token: string, path: string, init: RequestInit = {}) => {
    const res = await fetch(`${server.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
    const raw = await res.text();
    return { status: res.status, body: raw ? JSON.parse(raw) : null };
  };
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, env);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'frostbyte-audit-cli-'));
    work = mkdtempSync(join(tmpdir(), 'frostbyte-audit-cli-files-'));
    await withPlatform(async ({ services }) => {
      await createTenant(services, { tenantId: tenant, actor: 'ops' });
      await createTenant(services, { tenantId: other, actor: 'ops' });
      const mint = async (tenantId: string | null, scopes: Scope[], sub: string) =>
        (await issueToken(services.keys, services.clock, services.tokens, { sub, tenantId, scopes, ttlSeconds: 3600 })).token;
      tokens.audit = await mint(tenant, ['audit'], 'acme-legal');
      tokens.ingest = await mint(tenant, ['ingest'], 'acme-erp');
      tokens.query = await mint(tenant, ['query'], 'acme-search');
      tokens.otherAudit = await mint(other, ['audit'], 'globex-legal');
      tokens.admin = await mint(null, ['admin'], 'ops-oncall');
    });
    server = await startServerProcess({ FROSTBYTE_DATA_DIR: dataDir });

    // A vendor batch through the real pipeline, so the document has its whole provenance.
    const bytes = text('Master services agreement between Acme and Frostbyte, effective 1 March 2026.\n');
    const files = [{ file_id: 'file_001', filename: 'msa.txt', mime_type: 'text/plain', bytes }];
    const submitted = await fetch(`${server.url}/api/v1/ingest/${tenant}/batch`, {
      method: 'POST', headers: { authorization: `Bearer ${tokens.ingest}` }, body: batchForm(manifestFor(tenant, 'batch-legal-1', files), files),
    });
    expect(submitted.status, await submitted.text()).toBe(202);
    const until = Date.now() + 60_000;
    for (;;) {
      const status = await api(tokens.ingest, `/ingest/${tenant}/batch/batch-legal-1`);
      if (status.body?.status === 'completed') break;
      if (Date.now() > until) throw new Error(`batch did not complete: ${JSON.stringify(status.body)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const ingested = await api(tokens.audit, `/audit/${tenant}/events?event_type=DOCUMENT_INGESTED`);
    docId = ingested.body.events[0].resource_id;
    expect(ingested.body.events[0].details.output_hash).toBe(sha256(bytes));
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('exports a document\'s provenance and a time range, and verifies them with the JWKS from the server and from a file', async () => {
    const docDir = join(work, 'doc');
    const byDoc = await cli(['audit', 'export', '--tenant', tenant, '--resource', docId, '--out', docDir, '--url', server.url], { FROSTBYTE_TOKEN: tokens.audit });
    expect(byDoc.code, byDoc.stderr).toBe(0);
    expect(byDoc.stdout).toContain(join(docDir, 'events.jsonl'));
    expect(byDoc.stdout).toMatch(/^OK: 3 events, seq \d+–\d+ of resource doc_\w+ of tenant /m);
    expect(byDoc.stderr).toMatch(/export exp_\w+ (pending|running|completed)/);
    const events = readFileSync(join(docDir, 'events.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as AuditEvent);
    expect(events.map((e) => e.event_type)).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);
    expect(events[1].details.input_hash).toBe(events[0].details.output_hash);
    expect(events[2].details.input_hash).toBe(events[1].details.output_hash);

    rangeDir = join(work, 'range');
    const to = new Date(Date.now() + 1000).toISOString();
    const byRange = await cli(['audit', 'export', '--tenant', tenant, '--from', started, '--to', to, '--out', rangeDir, '--url', server.url, '--token', tokens.audit]);
    expect(byRange.code, byRange.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(rangeDir, 'manifest.json'), 'utf8')) as SignedAuditManifest;
    expect(manifest).toMatchObject({ tenant_id: tenant, format: 'jsonl', first_seq: 1, to });
    const lines = readFileSync(join(rangeDir, 'events.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines.length).toBe(manifest.event_count);
    expect(lines.map((l) => (JSON.parse(l) as AuditEvent).event_type)).toEqual(expect.arrayContaining(['TENANT_CREATED', 'BATCH_RECEIVED', 'DOCUMENT_INDEXED', 'BATCH_COMPLETED']));

    const file = join(rangeDir, 'events.jsonl');
    const mf = join(rangeDir, 'manifest.json');
    for (const jwks of [server.url, join(rangeDir, 'jwks.json')]) {
      const r = await cli(['audit', 'verify', file, '--manifest', mf, '--jwks', jwks]);
      expect(r.code, `${jwks}: ${r.stderr}`).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toMatch(new RegExp(`^OK: ${manifest.event_count} events, seq 1–${manifest.last_seq} of tenant ${tenant} .*signed by ${manifest.kid} \\(EdDSA\\)$`, 'm'));
    }
    // Offline: the jwks.json that `export` saved beside the manifest is used by default.
    const offline = await cli(['audit', 'verify', file, '--manifest', mf]);
    expect(offline.code, offline.stderr).toBe(0);

    const cefDir = join(work, 'cef');
    const cef = await cli(['audit', 'export', '--tenant', tenant, '--resource', docId, '--format', 'cef', '--out', cefDir, '--url', server.url, '--token', tokens.audit]);
    expect(cef.code, cef.stderr).toBe(0);
    expect(readFileSync(join(cefDir, 'events.cef'), 'utf8')).toMatch(/^CEF:0\|Frostbyte\|Frostbyte\|0\.1\.0\|DOCUMENT_INGESTED\|Document ingested\|2\|/);
    const cefVerify = await cli(['audit', 'verify', join(cefDir, 'events.cef'), '--manifest', join(cefDir, 'manifest.json'), '--jwks', server.url]);
    expect(cefVerify.code, cefVerify.stderr).toBe(0);
  }, 120_000);

  it('fails verification of tampered files and manifests, naming the first bad line and why', async () => {
    expect(rangeDir, 'runs after the export test').not.toBe('');
    const original = readFileSync(join(rangeDir, 'events.jsonl'), 'utf8');
    const manifest = JSON.parse(readFileSync(join(rangeDir, 'manifest.json'), 'utf8')) as SignedAuditManifest;
    const lines = original.trimEnd().split('\n');
    const n = lines.length;
    expect(n).toBeGreaterThan(5);
    const hash = (s: string) => sha256(s);
    /** A forger who knows the format: a well-formed event with a correct hash, linked to `prev`. */
    const forge = (prev: AuditEvent, seq: number): string => {
      const body = { ...prev, seq, event_id: 'evt_0197a1c2000070008000000000000001', resource_id: 'doc_forged', previous_event_id: null, prev_hash: prev.hash, event_type: 'DOCUMENT_INGESTED' as const };
      const { hash: _drop, ...unsigned } = body;
      return canonicalJson({ ...unsigned, hash: hash(canonicalJson(unsigned)) });
    };
    const at = (i: number) => JSON.parse(lines[i]) as AuditEvent;
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const { signature: _sig, kid: _kid, alg: _alg, ...fields } = manifest;
    const foreignJwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'key_someone_else', alg: 'EdDSA', use: 'sig' }] };

    const cases: { name: string; file?: string; manifest?: string; jwks?: string; expect: RegExp }[] = [
      { name: 'edit a field', file: lines.map((l, i) => (i === 1 ? JSON.stringify({ ...at(1), actor: 'mallory' }) : l)).join('\n') + '\n', expect: /^FAILED HASH_MISMATCH at line 2: .*a field was edited/ },
      { name: 'delete a line', file: lines.filter((_, i) => i !== 2).join('\n') + '\n', expect: /^FAILED SEQ_GAP at line 3: line 3 has seq 4 where seq 3 belongs/ },
      { name: 'swap two lines', file: [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n') + '\n', expect: /^FAILED SEQ_GAP at line 2:/ },
      { name: 'insert a forged line', file: [...lines.slice(0, 2), forge(at(1), at(1).seq + 1), ...lines.slice(2)].join('\n') + '\n', expect: /^FAILED SEQ_ORDER at line 4:/ },
      { name: 'append a forged line', file: `${original}${forge(at(n - 1), at(n - 1).seq + 1)}\n`, expect: new RegExp(`^FAILED SEQ_BEYOND_MANIFEST at line ${n + 1}:`) },
      { name: 'truncate inside a line', file: original.slice(0, original.length - 20), expect: new RegExp(`^FAILED FILE_TRUNCATED at line ${n}:`) },
      { name: 'truncate at a line end', file: lines.slice(0, -1).join('\n') + '\n', expect: new RegExp(`^FAILED EVENT_COUNT_MISMATCH at line ${n}: the file has ${n - 1} events but the manifest says ${n}`) },
      { name: 'alter the manifest', manifest: JSON.stringify({ ...manifest, to: '2099-01-01T00:00:00.000Z' }), expect: /^FAILED SIGNATURE_INVALID: the manifest signature does not verify/ },
      { name: 'alter the manifest count', manifest: JSON.stringify({ ...manifest, event_count: n - 1 }), expect: /^FAILED SIGNATURE_INVALID:/ },
      { name: 'sign with a wrong key', manifest: JSON.stringify(await signManifest(fields, { kid: manifest.kid, privateKey })), expect: /^FAILED SIGNATURE_INVALID:/ },
      { name: 'verify with another JWKS', jwks: JSON.stringify(foreignJwks), expect: new RegExp(`^FAILED UNKNOWN_KEY: no key in the JWKS matches the signing key \\(kid ${manifest.kid}\\)`) },
      { name: 'manifest that is not JSON', manifest: '{"tenant_id": ', expect: /^FAILED MANIFEST_INVALID:/ },
    ];

    const results: { name: string; code: number | null; stderr: string; stdout: string; expect: RegExp }[] = [];
    const queue = [...cases];
    await Promise.all(Array.from({ length: 3 }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const dir = join(work, 'tamper', c.name.replaceAll(' ', '-'));
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'events.jsonl'), c.file ?? original);
        writeFileSync(join(dir, 'manifest.json'), c.manifest ?? JSON.stringify(manifest));
        if (c.jwks) writeFileSync(join(dir, 'jwks.json'), c.jwks);
        else copyFileSync(join(rangeDir, 'jwks.json'), join(dir, 'jwks.json'));
        const r = await cli(['audit', 'verify', join(dir, 'events.jsonl'), '--manifest', join(dir, 'manifest.json'), '--jwks', join(dir, 'jwks.json')]);
        results.push({ name: c.name, ...r, expect: c.expect });
      }
    }));
    for (const r of results) {
      expect(r.code, `${r.name}: ${r.stderr}`).toBe(2);
      expect(r.stdout, r.name).toBe('');
      expect(r.stderr.trim(), r.name).toMatch(r.expect);
    }
    expect(results).toHaveLength(cases.length);
  }, 120_000);

  it('refuses exports without the audit scope or for another tenant', async () => {
    const out = join(work, 'denied');
    const query = await cli(['audit', 'export', '--tenant', tenant, '--resource', docId, '--out', out, '--url', server.url, '--token', tokens.query]);
    expect(query.code).toBe(1);
    expect(query.stderr).toContain('HTTP 403: INSUFFICIENT_PERMISSIONS');
    const cross = await cli(['audit', 'export', '--tenant', tenant, '--resource', docId, '--out', out, '--url', server.url, '--token', tokens.otherAudit]);
    expect(cross.code).toBe(1);
    expect(cross.stderr).toContain('HTTP 403: TENANT_MISMATCH');
    // The other tenant's own audit API does not know the document.
    const theirs = await cli(['audit', 'export', '--tenant', other, '--resource', docId, '--out', out, '--url', server.url, '--token', tokens.otherAudit]);
    expect(theirs.code).toBe(1);
    expect(theirs.stderr).toContain('HTTP 404: NOT_FOUND');
    const missing = await cli(['audit', 'export', '--tenant', tenant, '--out', out, '--url', server.url, '--token', tokens.audit]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('give --from and --to');
  }, 60_000);

  it('schedules exports from the CLI and catches up a run missed while the server was down', async () => {
    const bad = await cli(['audit', 'schedule', '--tenant', tenant, '--cron', '0 25 * * *', '--url', server.url, '--token', tokens.admin]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/HTTP 400: VALIDATION_FAILED: .*cron is not a 5-field cron expression/);
    const viaApi = await cli(['audit', 'schedule', '--tenant', tenant, '--cron', '0 2 * * *', '--url', server.url, '--token', tokens.admin]);
    expect(viaApi.code, viaApi.stderr).toBe(0);
    expect(viaApi.stdout).toMatch(new RegExp(`^schedule sch_\\w+ for ${tenant}: "0 2 \\* \\* \\*" UTC, jsonl; next run \\S+T02:00:00.000Z`));
    const listed = await cli(['audit', 'schedules', '--tenant', tenant, '--url', server.url, '--token', tokens.admin, '--json']);
    expect(JSON.parse(listed.stdout)).toHaveLength(1);

    // Stopped: the operator schedules a second feed against the database, and the server stays
    // down past both runs' times.
    expect(await server.stop()).toBe(0);
    const direct = await cli(['audit', 'schedule', '--tenant', tenant, '--cron', '15 3 * * *', '--format', 'cef'], { FROSTBYTE_DATA_DIR: dataDir });
    expect(direct.code, direct.stderr).toBe(0);
    const yesterday = new Date(Date.now() - 86_400_000);
    await withPlatform(async ({ services }) => {
      await services.control.update(auditSchedules).set({ nextRunAt: yesterday }).where(eq(auditSchedules.tenantId, tenant));
    });

    server = await startServerProcess({ FROSTBYTE_DATA_DIR: dataDir });
    const until = Date.now() + 60_000;
    let exports: { schedule_id: string | null; status: string; from: string | null; to: string; format: string; event_count: number }[] = [];
    for (;;) {
      exports = (await api(tokens.audit, `/audit/${tenant}/exports?status=completed&limit=200`)).body.exports.filter((e: { schedule_id: string | null }) => e.schedule_id);
      if (exports.length >= 2 || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // Each covers everything up to its schedule's latest time before the restart.
    const latest = (hour: number, minute: number) => {
      const now = new Date();
      const at = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), hour, minute);
      return new Date(at <= now.getTime() ? at : at - 86_400_000).toISOString();
    };
    expect(exports.map((e) => [e.format, e.from, e.to]).sort()).toEqual([
      ['cef', null, latest(3, 15)],
      ['jsonl', null, latest(2, 0)],
    ]);
    const after = JSON.parse((await cli(['audit', 'schedules', '--tenant', tenant, '--url', server.url, '--token', tokens.admin, '--json'])).stdout) as { last_run_at: string; next_run_at: string }[];
    for (const s of after) expect(Date.parse(s.next_run_at)).toBeGreaterThan(Date.now());
  }, 180_000);
});
