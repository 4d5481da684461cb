import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ManualClock } from '../clock';
import { applyMigrations } from '../db/migrate';
import type { Db } from '../db/types';
import { AppError } from '../http/errors';
import { openPglite } from '../node/databases';
import { loadMigrations } from '../node/migrations';
import { nodeSha256 } from '../node/sha256';
import {
  appendEvents,
  AUDIT_EVENT_TYPES,
  auditExportedEvent,
  canonicalJson,
  CEF_EVENT_MAP,
  exportAuditEvents,
  formatCefEvent,
  GENESIS_HASH,
  listEvents,
  openAuditExport,
  parseCefEvent,
  signManifest,
  verifyExport,
  type AuditEvent,
  type AuditEventInput,
  type ExportSelection,
  type ManifestSigner,
  type SignedAuditManifest,
} from './index';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let db: Db;
let close: () => Promise<void>;
let signer: ManifestSigner;
let jwks: JSONWebKeySet;
let otherSigner: ManifestSigner;
const TENANT = 'acme-exports';
const clock = new ManualClock(new Date('2026-02-01T00:00:00.000Z'));

async function newSigner(kid: string): Promise<{ signer: ManifestSigner; publicJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { signer: { kid, privateKey }, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' } };
}

/** A document's life: ingest → failed parse → parse → index, with chained content hashes. */
function documentEvents(doc: string, n: number): AuditEventInput[] {
  const raw = sha256(`raw ${doc}`);
  const parsed = sha256(`parsed ${doc}`);
  const ev = (event_type: AuditEventInput['event_type'], details: Record<string, unknown>): AuditEventInput => ({
    event_type, actor: 'system', resource_type: 'document', resource_id: doc, details: { component: 'pipeline', ...details },
  });
  return [
    ev('DOCUMENT_INGESTED', { output_hash: raw, status: 'success', n, note: 'ümlaut € 𝄞 | = \\ "quoted"' }),
    ev('DOCUMENT_PARSE_FAILED', { input_hash: raw, status: 'failure', error_code: 'TIMEOUT' }),
    ev('DOCUMENT_PARSED', { input_hash: raw, output_hash: parsed, pipeline_version: '1.2.0', duration_ms: 1234 }),
    ev('DOCUMENT_INDEXED', { input_hash: parsed, output_hash: sha256(`chunks ${doc}`), status: 'success' }),
  ];
}

beforeAll(async () => {
  // 'memory://' rather than undefined: PGlite ignores the options argument when dataDir is undefined.
  const opened = await openPglite('memory://');
  db = opened.db;
  close = opened.close;
  await applyMigrations(db, loadMigrations('control'), { schema: 'public' });
  const main = await newSigner('key_main');
  const other = await newSigner('key_other');
  signer = main.signer;
  otherSigner = other.signer;
  jwks = { keys: [main.publicJwk, other.publicJwk] };

  await appendEvents(db, TENANT, [{ event_type: 'TENANT_CREATED', actor: 'admin|ops=1', resource_type: 'tenant', resource_id: TENANT, details: { component: 'tenants' } }], clock);
  // Ten documents whose steps interleave, one event per minute, 41 events in all.
  const perDoc = Array.from({ length: 10 }, (_, d) => documentEvents(`doc_${d}`, d));
  for (let step = 0; step < 4; step++) {
    for (let d = 0; d < 10; d++) {
      clock.advance(60_000);
      await appendEvents(db, TENANT, [perDoc[d][step]], clock, { sha256: nodeSha256 });
    }
  }
  // Another tenant's events never appear in this tenant's exports.
  await appendEvents(db, 'other-tenant', documentEvents('doc_0', 0), clock);
});

afterAll(async () => {
  await close?.();
});

async function makeExport(selection: ExportSelection, format: 'jsonl' | 'cef' = 'jsonl', s: ManifestSigner = signer, pageSize?: number) {
  const exp = await openAuditExport(db, TENANT, selection, { format, sha256: nodeSha256, clock, productVersion: '0.1.0', pageSize });
  let text = '';
  for await (const line of exp.lines) text += line;
  return { text, manifest: await exp.sign(s) };
}

const lines = (text: string) => text.split('\n').slice(0, -1);
const join = (ls: string[]) => ls.map((l) => `${l}\n`).join('');
/** Re-hashes an edited event, as a forger who knows the scheme would. */
function rehash(e: AuditEvent): AuditEvent {
  const { hash: _old, ...body } = e;
  return { ...e, hash: sha256(canonicalJson(body)) };
}
async function* chunked(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('JSON Lines export', () => {
  test('an untouched export verifies, whole or streamed in odd-sized chunks', async () => {
    const { text, manifest } = await makeExport({});
    expect(manifest).toMatchObject({
      tenant_id: TENANT, format: 'jsonl', from: null, to: null, event_count: 41, first_seq: 1, last_seq: 41,
      first_prev_hash: GENESIS_HASH, file_sha256: sha256(text), kid: 'key_main', alg: 'EdDSA',
    });
    expect(manifest.signature).toMatch(/^[\w-]+\.\.[\w-]+$/);
    const all = (await listEvents(db, TENANT, { limit: 1000 })).events;
    expect(lines(text)).toEqual(all.map((e) => canonicalJson(e)));
    expect(manifest.last_hash).toBe(all[40].hash);

    const ok = await verifyExport(text, manifest, jwks, { sha256: nodeSha256 });
    expect(ok).toMatchObject({ ok: true });
    if (ok.ok) expect(ok.summary).toMatch(/^OK: 41 events, seq 1–41 of tenant acme-exports .*signed by key_main \(EdDSA\)$/);
    const bytes = new TextEncoder().encode(text);
    // 7-byte chunks split multi-byte characters; the manifest may also arrive as parsed JSON text.
    expect(await verifyExport(chunked(bytes, 7), JSON.parse(JSON.stringify(manifest)), jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });
    expect(await verifyExport(bytes, manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });
  });

  test('body() streams the same bytes as lines, page size does not change the file, and sign() waits for the end', async () => {
    const { text, manifest } = await makeExport({});
    const exp = await openAuditExport(db, TENANT, {}, { sha256: nodeSha256, clock, pageSize: 6 });
    await expect(exp.sign(signer)).rejects.toThrow(/read to the end/);
    const body = new Uint8Array(await new Response(exp.body()).arrayBuffer());
    expect(new TextDecoder().decode(body)).toBe(text);
    expect((await exp.sign(signer)).file_sha256).toBe(manifest.file_sha256);

    let stored: Uint8Array | null = null;
    const viaHelper = await exportAuditEvents(db, TENANT, {}, { sha256: nodeSha256, clock, signer, write: async (b) => { stored = new Uint8Array(await new Response(b).arrayBuffer()); } });
    expect(stored && new TextDecoder().decode(stored)).toBe(text);
    expect(viaHelper.file_sha256).toBe(manifest.file_sha256);
    const exported = auditExportedEvent('exp_test', viaHelper, 'auditor-1');
    expect(exported).toMatchObject({ event_type: 'AUDIT_EXPORTED', resource_type: 'export', resource_id: 'exp_test', details: { output_hash: manifest.file_sha256, event_count: 41 } });
  });

  test('a time range exports the stretch of the chain it covers and links to the event before it', async () => {
    // Events at 00:01 … 00:41; [00:10, 00:20) holds seq 10–19 (seq 1 is at 00:00).
    const { text, manifest } = await makeExport({ from: '2026-02-01T00:10:00Z', to: '2026-02-01T00:20:00.000Z' });
    expect(manifest).toMatchObject({ from: '2026-02-01T00:10:00.000Z', to: '2026-02-01T00:20:00.000Z', event_count: 10, first_seq: 11, last_seq: 20 });
    const all = (await listEvents(db, TENANT, { limit: 1000 })).events;
    expect(manifest.first_prev_hash).toBe(all[9].hash);
    expect(lines(text).map((l) => (JSON.parse(l) as AuditEvent).seq)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(await verifyExport(text, manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });
    const empty = await makeExport({ from: '2030-01-01T00:00:00Z', to: '2030-02-01T00:00:00Z' });
    expect(empty.manifest).toMatchObject({ event_count: 0, first_seq: null, last_seq: null, first_prev_hash: null, last_hash: null, file_sha256: sha256('') });
    expect(await verifyExport(empty.text, empty.manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });
  });

  test('invalid selections are validation errors', async () => {
    const err = await openAuditExport(db, TENANT, { from: 'last week', to: '2026-01-01T00:00:00Z' }, { sha256: nodeSha256 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).extra.errors?.map((p) => p.field)).toEqual(['from']);
    const backwards = await openAuditExport(db, TENANT, { from: '2026-02-02T00:00:00Z', to: '2026-02-01T00:00:00Z' }, { sha256: nodeSha256 }).catch((e: unknown) => e);
    expect((backwards as AppError).extra.errors?.map((p) => p.field)).toEqual(['to']);
  });
});

describe('tampering with a JSON Lines export is detected and named', () => {
  let text: string;
  let manifest: SignedAuditManifest;
  let ls: string[];
  const verify = (file: string, m: unknown = manifest) => verifyExport(file, m, jwks, { sha256: nodeSha256 });
  const event = (i: number) => JSON.parse(ls[i]) as AuditEvent;

  beforeAll(async () => {
    ({ text, manifest } = await makeExport({}));
    ls = lines(text);
  });

  test('edit a field', async () => {
    const edited = [...ls];
    edited[4] = canonicalJson({ ...event(4), actor: 'mallory' });
    expect(await verify(join(edited))).toMatchObject({ ok: false, code: 'HASH_MISMATCH', line: 5, reason: expect.stringMatching(/line 5 .*field was edited/) });
  });

  test('edit a field and recompute its hash', async () => {
    const edited = [...ls];
    edited[4] = canonicalJson(rehash({ ...event(4), actor: 'mallory' }));
    expect(await verify(join(edited))).toMatchObject({ ok: false, code: 'CHAIN_BROKEN', line: 6 });
  });

  test('edit a field and re-hash the whole rest of the chain', async () => {
    const edited: AuditEvent[] = ls.map((l) => JSON.parse(l) as AuditEvent);
    edited[4] = rehash({ ...edited[4], actor: 'mallory' });
    for (let i = 5; i < edited.length; i++) edited[i] = rehash({ ...edited[i], prev_hash: edited[i - 1].hash });
    expect(await verify(join(edited.map((e) => canonicalJson(e))))).toMatchObject({ ok: false, code: 'LAST_HASH_MISMATCH' });
  });

  test('delete a line', async () => {
    expect(await verify(join(ls.filter((_, i) => i !== 9)))).toMatchObject({ ok: false, code: 'SEQ_GAP', line: 10, reason: expect.stringContaining('seq 11') });
  });

  test('swap two lines', async () => {
    const swapped = [...ls];
    [swapped[6], swapped[7]] = [swapped[7], swapped[6]];
    expect(await verify(join(swapped))).toMatchObject({ ok: false, code: 'SEQ_GAP', line: 7 });
  });

  test('insert a forged line with a recomputed hash', async () => {
    // A forgery that links correctly into both chains is caught where the real events resume.
    const forged = rehash({ ...event(5), event_id: 'evt_forged', seq: event(5).seq + 1, prev_hash: event(5).hash, previous_event_id: event(5).event_id, actor: 'mallory' });
    const inserted = [...ls.slice(0, 6), canonicalJson(forged), ...ls.slice(6)];
    expect(await verify(join(inserted))).toMatchObject({ ok: false, code: 'SEQ_ORDER', line: 8 });
    // One that copies another event's provenance link is caught at the forged line itself.
    const copied = rehash({ ...event(5), event_id: 'evt_forged', seq: event(5).seq + 1, prev_hash: event(5).hash, actor: 'mallory' });
    expect(await verify(join([...ls.slice(0, 6), canonicalJson(copied), ...ls.slice(6)]))).toMatchObject({ ok: false, code: 'PROVENANCE_BROKEN', line: 7 });
    const last = event(ls.length - 1);
    const appended = [...ls, canonicalJson(rehash({ ...last, event_id: 'evt_forged', seq: last.seq + 1, prev_hash: last.hash, previous_event_id: last.event_id }))];
    expect(await verify(join(appended))).toMatchObject({ ok: false, code: 'SEQ_BEYOND_MANIFEST', line: 42 });
  });

  test('truncate the file', async () => {
    expect(await verify(text.slice(0, text.length - 30))).toMatchObject({ ok: false, code: 'FILE_TRUNCATED', line: 41 });
    expect(await verify(join(ls.slice(0, 30)))).toMatchObject({ ok: false, code: 'EVENT_COUNT_MISMATCH', line: 31, reason: expect.stringContaining('30 events but the manifest says 41') });
    expect(await verify(text.slice(0, -1))).toMatchObject({ ok: false, code: 'FILE_TRUNCATED', line: 41 });
    expect(await verify('')).toMatchObject({ ok: false, code: 'EVENT_COUNT_MISMATCH', line: 1 });
  });

  test('alter the manifest', async () => {
    for (const change of [{ event_count: 40 }, { last_hash: event(39).hash }, { first_seq: 2 }, { tenant_id: 'other-tenant' }, { file_sha256: sha256('x') }]) {
      expect(await verify(text, { ...manifest, ...change })).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID', line: null });
    }
    expect(await verify(text, { ...manifest, kid: 'key_other' })).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    expect(await verify(text, { ...manifest, event_count: '41' })).toMatchObject({ ok: false, code: 'MANIFEST_INVALID', reason: expect.stringContaining('event_count') });
    const { signature: _s, ...unsigned } = manifest;
    expect(await verify(text, unsigned)).toMatchObject({ ok: false, code: 'MANIFEST_INVALID', reason: expect.stringContaining('signature') });
    expect(await verify(text, { ...manifest, extra: 1 })).toMatchObject({ ok: false, code: 'MANIFEST_INVALID' });
  });

  test('sign with a wrong key', async () => {
    const { signature: _s, kid: _k, alg: _a, ...fields } = manifest;
    // A key the JWKS does not know, claiming the platform's kid…
    const impostor = (await newSigner('key_main')).signer;
    expect(await verify(text, await signManifest(fields, impostor))).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID', reason: expect.stringContaining('does not verify') });
    // …or under its own kid.
    expect(await verify(text, await signManifest(fields, (await newSigner('key_rogue')).signer))).toMatchObject({ ok: false, code: 'UNKNOWN_KEY' });
    // A published key verifies: keys rotate, and the JWKS lists old and new. A JWK private key signs the same.
    const rotated = await signManifest(fields, { kid: otherSigner.kid, privateKey: await exportJWK(otherSigner.privateKey as CryptoKey) });
    expect(await verify(text, rotated)).toMatchObject({ ok: true });
    // A forged file re-signed by a key the JWKS does not list still fails.
    const forged = join([...ls.slice(0, 40)]);
    expect(await verify(forged, await signManifest({ ...fields, event_count: 40, last_seq: 40, last_hash: event(39).hash, file_sha256: sha256(forged) }, impostor))).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
  });

  test('bytes changed without changing any event', async () => {
    const spaced = [...ls];
    spaced[2] = ls[2].replace('{"actor"', '{ "actor"');
    expect(await verify(join(spaced))).toMatchObject({ ok: false, code: 'LINE_NOT_CANONICAL', line: 3 });
    expect(await verify(text.replaceAll('\n', '\r\n'))).toMatchObject({ ok: false, code: 'LINE_NOT_CANONICAL', line: 1 });
    // Same length, same parsed event, members reordered.
    const e = event(3);
    const reordered = [...ls];
    reordered[3] = ls[3].replace(canonicalJson(e.details), JSON.stringify(Object.fromEntries(Object.entries(e.details).reverse())));
    expect(reordered[3]).not.toBe(ls[3]);
    expect(await verify(join(reordered))).toMatchObject({ ok: false, code: 'LINE_NOT_CANONICAL', line: 4 });
    const escaped = [...ls];
    escaped[1] = ls[1].replace('ü', '\\u00fc');
    expect(await verify(join(escaped))).toMatchObject({ ok: false, code: 'LINE_NOT_CANONICAL', line: 2 });
    // Every event intact, yet the bytes are not the signed ones (a byte-order mark in front).
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)]);
    expect(await verifyExport(bom, manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: false, code: 'FILE_SHA256_MISMATCH', line: null });
  });

  test('malformed lines and foreign events', async () => {
    expect(await verify(join([...ls.slice(0, 2), 'not json', ...ls.slice(3)]))).toMatchObject({ ok: false, code: 'LINE_NOT_JSON', line: 3 });
    expect(await verify(join([...ls.slice(0, 2), '', ...ls.slice(3)]))).toMatchObject({ ok: false, code: 'LINE_EMPTY', line: 3 });
    expect(await verify(join([...ls.slice(0, 2), canonicalJson({ ...event(2), extra: 1 }), ...ls.slice(3)]))).toMatchObject({ ok: false, code: 'EVENT_INVALID', line: 3, reason: expect.stringContaining('unexpected field extra') });
    const foreign = [...ls];
    foreign[0] = canonicalJson(rehash({ ...event(0), tenant_id: 'other-tenant' }));
    expect(await verify(join(foreign))).toMatchObject({ ok: false, code: 'TENANT_MISMATCH', line: 1 });
    const bad = new Uint8Array([...new TextEncoder().encode(join(ls.slice(0, 1))), 0xff, 0xfe, 10]);
    expect(await verifyExport(chunked(bad, 5), manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: false, code: 'FILE_NOT_UTF8', line: 2 });
  });

  test('a re-pointed provenance link is found even when the log chain was re-hashed', async () => {
    const edited: AuditEvent[] = ls.map((l) => JSON.parse(l) as AuditEvent);
    // Line 22 is doc_0's DOCUMENT_PARSED; point it past the failed attempt, straight at the ingest.
    const i = edited.findIndex((e) => e.resource_id === 'doc_0' && e.event_type === 'DOCUMENT_PARSED');
    const ingest = edited.find((e) => e.resource_id === 'doc_0' && e.event_type === 'DOCUMENT_INGESTED');
    edited[i] = rehash({ ...edited[i], previous_event_id: ingest?.event_id ?? null });
    for (let k = i + 1; k < edited.length; k++) edited[k] = rehash({ ...edited[k], prev_hash: edited[k - 1].hash });
    expect(await verify(join(edited.map((e) => canonicalJson(e))))).toMatchObject({ ok: false, code: 'PROVENANCE_BROKEN', line: i + 1 });
  });
});

describe('canonical lines the quick check cannot vouch for', () => {
  test('verify falls back to the RFC 8785 library and still accepts them', async () => {
    const tenant = 'acme-odd-details';
    // Integer-like member names (JavaScript enumerates them numerically, RFC 8785 sorts them as
    // strings), control characters and backslashes that serialize as escapes.
    await appendEvents(db, tenant, [
      { event_type: 'BATCH_RECEIVED', actor: 'system', resource_type: 'batch', resource_id: 'bat_1', details: { '10': 'a', '9': 'b', '2': { '11': 1, '1': 2 } } },
      { event_type: 'BATCH_COMPLETED', actor: 'sys\u0041', resource_type: 'batch', resource_id: 'bat_1', details: { ctl: '\u0001\u001f', path: 'C:\\users\\x', n: [1.5, -0, 1e21, 1e-7] } },
    ], clock);
    const exp = await openAuditExport(db, tenant, {}, { sha256: nodeSha256 });
    let file = '';
    for await (const line of exp.lines) file += line;
    const m = await exp.sign(signer);
    expect(file).toContain('{"10":"a","2":{"1":2,"11":1},"9":"b"}');
    expect(file).toContain('\\u0001\\u001f');
    expect(await verifyExport(file, m, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });
    const ls = lines(file);
    const reordered = ls[0].replace('{"10":"a","2":{"1":2,"11":1},"9":"b"}', '{"2":{"1":2,"11":1},"9":"b","10":"a"}');
    expect(await verifyExport(join([reordered, ls[1]]), m, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: false, code: 'LINE_NOT_CANONICAL', line: 1 });
  });
});

describe('resource export', () => {
  test("a document's provenance exports, verifies, and a removed step is found", async () => {
    const { text, manifest } = await makeExport({ resource_id: 'doc_3' });
    expect(manifest).toMatchObject({ resource_id: 'doc_3', event_count: 4, from: null, to: null });
    const events = lines(text).map((l) => JSON.parse(l) as AuditEvent);
    expect(events.map((e) => e.event_type)).toEqual(['DOCUMENT_INGESTED', 'DOCUMENT_PARSE_FAILED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED']);
    expect(events.every((e) => e.tenant_id === TENANT)).toBe(true);
    expect(await verifyExport(text, manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });
    const ok = await verifyExport(text, manifest, jwks, { sha256: nodeSha256 });
    if (ok.ok) expect(ok.summary).toContain('resource doc_3 of tenant acme-exports');

    const ls = lines(text);
    expect(await verifyExport(join([ls[0], ls[2], ls[3]]), manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: false, code: 'PROVENANCE_BROKEN', line: 2 });
    const other = (await makeExport({ resource_id: 'doc_4' })).text;
    expect(await verifyExport(join([ls[0], ls[1], ls[2], lines(other)[3]]), manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: false, code: 'RESOURCE_MISMATCH', line: 4 });
  });
});

describe('CEF export', () => {
  test('every event type maps to a name and a 0–10 severity', () => {
    for (const type of AUDIT_EVENT_TYPES) {
      expect(CEF_EVENT_MAP[type].name.length).toBeGreaterThan(0);
      expect(Number.isInteger(CEF_EVENT_MAP[type].severity) && CEF_EVENT_MAP[type].severity >= 0 && CEF_EVENT_MAP[type].severity <= 10).toBe(true);
    }
    expect(Object.keys(CEF_EVENT_MAP).sort()).toEqual([...AUDIT_EVENT_TYPES].sort());
  });

  test('lines follow the CEF header, escape per the spec, and carry the whole event', async () => {
    const { text, manifest } = await makeExport({}, 'cef');
    const ls = lines(text);
    expect(ls).toHaveLength(41);
    expect(ls[0]).toMatch(/^CEF:0\|Frostbyte\|Frostbyte\|0\.1\.0\|TENANT_CREATED\|Tenant created\|3\|rt=\d+ externalId=evt_\w+ suser=admin\|ops\\=1 cat=tenant cn1Label=seq cn1=1 /);
    expect(ls[1]).toContain('|DOCUMENT_INGESTED|Document ingested|2|');
    expect(ls[1]).toContain('outcome=success');
    const all = (await listEvents(db, TENANT, { limit: 1000 })).events;
    ls.forEach((l, i) => expect(parseCefEvent(l)).toEqual({ event: all[i] }));
    expect(await verifyExport(text, manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });

    const tricky: AuditEvent = { ...all[1], actor: 'a|b=c\\d\ne\rf', details: { component: 'x=y', note: 'line1\nline2 key=v' } };
    const line = formatCefEvent(tricky, '1.0|beta\\x');
    expect(line).not.toMatch(/[\r\n]/);
    expect(line.startsWith('CEF:0|Frostbyte|Frostbyte|1.0\\|beta\\\\x|DOCUMENT_INGESTED|')).toBe(true);
    expect(line).toContain('suser=a|b\\=c\\\\d\\ne\\rf cat=');
    expect(parseCefEvent(line)).toEqual({ event: tricky });

    const edited = [...ls];
    edited[5] = ls[5].replace(/ cs2=doc_\d/, ' cs2=doc_9');
    expect(await verifyExport(join(edited), manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: false, code: 'HASH_MISMATCH', line: 6 });
    expect(await verifyExport(join(ls.filter((_, i) => i !== 3)), manifest, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: false, code: 'SEQ_GAP', line: 4 });
    expect(await verifyExport(join(ls), { ...manifest, format: 'jsonl' }, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
  });
});
