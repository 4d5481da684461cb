import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { appendEvents, canonicalJson, openAuditExport, signManifest, verifyExport, type AuditEvent, type AuditEventInput, type ManifestSigner, type SignedAuditManifest } from '../audit';
import { joinSegments } from '../audit/export-lines';
import { ManualClock } from '../clock';
import { applyMigrations } from '../db/migrate';
import { openPglite } from './databases';
import { loadMigrations } from './migrations';
import { nodeSha256 } from './sha256';
import { checkInWorker, lineCuts, verifyExportFile } from './verify-export-file';
import { checkFileSegment } from './verify-export-segment';

const TENANT = 'acme-parallel';
const DOCS = 20;
const sha256 = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex');

let dir: string;
let signer: ManifestSigner;
let jwks: JSONWebKeySet;
/** The intact export: line 1 creates the tenant; doc_d's step s (0–3) is line 2 + 20·s + d. */
let text: string;
let manifest: SignedAuditManifest;
let events: AuditEvent[];
/** The same events as CEF. */
let cef: { text: string; manifest: SignedAuditManifest };
const lineOf = (doc: number, step: number) => 2 + step * DOCS + doc;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'frostbyte-verify-file-'));
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  signer = { kid: 'key_parallel', privateKey };
  jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'key_parallel', alg: 'EdDSA', use: 'sig' }] };

  const { db, close } = await openPglite('memory://');
  try {
    await applyMigrations(db, loadMigrations('control'), { schema: 'public' });
    const clock = new ManualClock(new Date('2026-03-01T00:00:00.000Z'));
    await appendEvents(db, TENANT, [{ event_type: 'TENANT_CREATED', actor: 'admin', resource_type: 'tenant', resource_id: TENANT, details: { component: 'tenants' } }], clock);
    const steps = ['DOCUMENT_INGESTED', 'DOCUMENT_PARSED', 'DOCUMENT_INDEXED', 'DOCUMENT_INDEXED'] as const;
    for (let s = 0; s < steps.length; s++) {
      const batch: AuditEventInput[] = Array.from({ length: DOCS }, (_, d) => ({
        event_type: steps[s], actor: 'system', resource_type: 'document', resource_id: `doc_${d}`,
        details: { component: 'pipeline', input_hash: sha256(`${d}/${s}`), step: s, ...(d === 7 ? { note: 'ümlaut € 𝄞 "quoted" \\ nested', nested: { b: [1, 2.5], a: null } } : {}) },
      }));
      clock.advance(60_000);
      await appendEvents(db, TENANT, batch, clock, { sha256: nodeSha256 });
    }
    const exp = await openAuditExport(db, TENANT, {}, { sha256: nodeSha256, clock });
    text = '';
    for await (const line of exp.lines) text += line;
    manifest = await exp.sign(signer);
    const cefExp = await openAuditExport(db, TENANT, {}, { format: 'cef', productVersion: '0.1.0', sha256: nodeSha256, clock });
    let cefText = '';
    for await (const line of cefExp.lines) cefText += line;
    cef = { text: cefText, manifest: await cefExp.sign(signer) };
  } finally {
    await close();
  }
  events = lines(text).map((l) => JSON.parse(l) as AuditEvent);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const lines = (t: string) => t.split('\n').slice(0, -1);
const joinLines = (ls: string[]) => ls.map((l) => `${l}\n`).join('');

let files = 0;
function fileWith(content: string | Uint8Array): string {
  const path = join(dir, `events-${++files}.jsonl`);
  writeFileSync(path, content);
  return path;
}

/**
 * What a forger who holds the signing key would produce: every hash re-computed from index `from`
 * on, the prev_hash links after it re-pointed, and a matching manifest.
 */
async function forge(edited: AuditEvent[], from: number): Promise<{ text: string; manifest: SignedAuditManifest }> {
  const out = edited.map((e) => ({ ...e }));
  for (let i = from; i < out.length; i++) {
    if (i > from) out[i].prev_hash = out[i - 1].hash;
    const { hash: _old, ...body } = out[i];
    out[i].hash = sha256(canonicalJson(body));
  }
  const forged = joinLines(out.map((e) => canonicalJson(e)));
  const { signature: _s, kid: _k, alg: _a, ...fields } = manifest;
  return { text: forged, manifest: await signManifest({ ...fields, file_sha256: sha256(forged), last_hash: out[out.length - 1].hash }, signer) };
}

/**
 * The parallel pass alone over stretches that start at the given (1-based) lines: true when every
 * stretch checks out and joinSegments finds the whole intact.
 */
async function parallelPass(content: string, m: SignedAuditManifest, startLines: number[]): Promise<boolean> {
  const path = fileWith(content);
  const offsets = [0];
  let at = 0;
  lines(content).forEach((l, i) => {
    at += Buffer.byteLength(l) + 1;
    if (startLines.includes(i + 2)) offsets.push(at);
  });
  offsets.push(Buffer.byteLength(content));
  const segments = await Promise.all(offsets.slice(1).map((end, i) => checkFileSegment({ path, start: offsets[i], end, manifest: m })));
  return segments.every((s) => s !== null) && joinSegments(m, segments.filter((s) => s !== null));
}

/** verifyExportFile over three stretches (two in worker threads), which must answer as verifyExport does. */
async function verifyBoth(content: string | Uint8Array, m: unknown = manifest) {
  const single = await verifyExport(content, m, jwks, { sha256: nodeSha256 });
  const parallel = await verifyExportFile(fileWith(content), m, jwks, { threads: 3, minStretchBytes: 0 });
  expect(parallel).toEqual(single);
  return parallel;
}

describe('verifyExportFile: stretches checked in parallel', () => {
  test('an intact export verifies, however it is cut', async () => {
    expect(events).toHaveLength(1 + 4 * DOCS);
    const ok = await verifyBoth(text);
    expect(ok).toMatchObject({ ok: true, summary: expect.stringMatching(/^OK: 81 events, seq 1–81 of tenant acme-parallel/) });
    const cuts = await lineCuts(fileWith(text), Buffer.byteLength(text), 3);
    expect(cuts).toHaveLength(4);
    for (let k = 2; k <= events.length; k++) expect(await parallelPass(text, manifest, [k]), `cut before line ${k}`).toBe(true);
    expect(await parallelPass(text, manifest, [20, 41, 62])).toBe(true);
  });

  test('a worker thread checks its stretch as this thread would', async () => {
    const path = fileWith(text);
    const start = Buffer.from(text).indexOf('\n', 5000) + 1;
    const task = { path, start, end: Buffer.byteLength(text), manifest };
    const inWorker = await checkInWorker(task);
    expect(inWorker).not.toBeNull();
    expect(inWorker).toEqual(await checkFileSegment(task));
    expect(inWorker?.events).toBe(events.length - Buffer.from(text).subarray(0, start).toString().split('\n').length + 1);
    const edited = lines(text);
    edited[70] = canonicalJson({ ...events[70], actor: 'mallory' });
    expect(await checkInWorker({ ...task, path: fileWith(joinLines(edited)) })).toBeNull();
  });

  test('an edited line in the first, a middle or the last stretch is named', async () => {
    for (const line of [3, 40, 79]) {
      const edited = lines(text);
      edited[line - 1] = canonicalJson({ ...events[line - 1], actor: 'mallory' });
      expect(await verifyBoth(joinLines(edited))).toMatchObject({ ok: false, code: 'HASH_MISMATCH', line, reason: expect.stringContaining(`line ${line} `) });
    }
  });

  test('lines swapped across a cut, and a deleted or repeated line at a cut, are found at the right line', async () => {
    const cutLines = async (content: string) => {
      const path = fileWith(content);
      const cuts = await lineCuts(path, statSync(path).size, 3);
      return cuts.slice(1, -1).map((c) => Buffer.from(content).subarray(0, c).toString().split('\n').length);
    };
    const [second] = await cutLines(text);

    const swapped = lines(text);
    [swapped[second - 2], swapped[second - 1]] = [swapped[second - 1], swapped[second - 2]];
    expect(await verifyBoth(joinLines(swapped))).toMatchObject({ ok: false, code: 'SEQ_GAP', line: second - 1 });
    expect(await parallelPass(joinLines(swapped), manifest, [second])).toBe(false);

    const deleted = lines(text).filter((_, i) => i !== second - 1);
    expect(await verifyBoth(joinLines(deleted))).toMatchObject({ ok: false, code: 'SEQ_GAP', line: second, reason: expect.stringContaining(`seq ${second + 1} where seq ${second} belongs`) });
    // Each side of the cut is intact on its own: only joining them finds the gap.
    expect(await parallelPass(joinLines(deleted), manifest, [second])).toBe(false);

    const repeated = lines(text);
    repeated.splice(second - 1, 0, repeated[second - 2]);
    expect(await verifyBoth(joinLines(repeated))).toMatchObject({ ok: false, code: 'SEQ_ORDER', line: second });
    expect(await parallelPass(joinLines(repeated), manifest, [second])).toBe(false);

    // The two halves in the other order: each is a consistent stretch of the chain.
    const halves = lines(text);
    const reordered = joinLines([...halves.slice(40), ...halves.slice(0, 40)]);
    expect(await verifyBoth(reordered)).toMatchObject({ ok: false, code: 'FIRST_SEQ_MISMATCH', line: 1 });
    expect(await parallelPass(reordered, manifest, [42])).toBe(false);

    // The first line after the cut links to a hash that is not the line before it (a forged chain).
    const relinked = events.map((e) => ({ ...e }));
    relinked[40].prev_hash = 'f'.repeat(64);
    const forged = await forge(relinked, 40);
    expect(await verifyBoth(forged.text, forged.manifest)).toMatchObject({ ok: false, code: 'CHAIN_BROKEN', line: 41 });
    expect(await parallelPass(forged.text, forged.manifest, [41])).toBe(false);
    expect(await parallelPass(forged.text, forged.manifest, [30])).toBe(false);
  });

  test('provenance links and duplicate ids across a cut are checked when the stretches are joined', async () => {
    // doc_1's indexing (line 43) re-pointed past its parse (line 23) at its ingest (line 3).
    const repointed = events.map((e) => ({ ...e }));
    repointed[lineOf(1, 2) - 1].previous_event_id = events[lineOf(1, 0) - 1].event_id;
    const a = await forge(repointed, lineOf(1, 2) - 1);
    expect(await parallelPass(a.text, a.manifest, [41])).toBe(false);
    expect(await verifyBoth(a.text, a.manifest)).toMatchObject({ ok: false, code: 'PROVENANCE_BROKEN', line: 43 });

    // doc_8's last event (line 70) takes the event_id of doc_8's first (line 10): nothing else names either.
    const duplicated = events.map((e) => ({ ...e }));
    duplicated[lineOf(8, 3) - 1].event_id = events[lineOf(8, 0) - 1].event_id;
    const b = await forge(duplicated, lineOf(8, 3) - 1);
    expect(await parallelPass(b.text, b.manifest, [41])).toBe(false);
    expect(await verifyBoth(b.text, b.manifest)).toMatchObject({ ok: false, code: 'DUPLICATE_EVENT', line: 70 });

    // doc_3's first event (line 5) names a later event (line 70, another stretch) as its previous one.
    const forward = events.map((e) => ({ ...e }));
    forward[lineOf(3, 0) - 1].previous_event_id = events[lineOf(8, 3) - 1].event_id;
    const c = await forge(forward, lineOf(3, 0) - 1);
    expect(await parallelPass(c.text, c.manifest, [41])).toBe(false);
    expect(await verifyBoth(c.text, c.manifest)).toMatchObject({ ok: false, code: 'PROVENANCE_BROKEN', line: 70, reason: expect.stringContaining('by line 5') });

    // A forged but consistent chain with a re-signed manifest is, as far as the lines go, intact.
    const d = await forge(events, 0);
    expect(await parallelPass(d.text, d.manifest, [41])).toBe(true);
  });

  test('a CEF export is checked the same way', async () => {
    expect(await verifyBoth(cef.text, cef.manifest)).toMatchObject({ ok: true });
    const edited = lines(cef.text);
    edited[50] = edited[50].replace('suser=system', 'suser=mallory');
    expect(edited[50]).not.toBe(lines(cef.text)[50]);
    expect(await verifyBoth(joinLines(edited), cef.manifest)).toMatchObject({ ok: false, code: 'HASH_MISMATCH', line: 51 });
    const swapped = lines(cef.text);
    [swapped[40], swapped[41]] = [swapped[41], swapped[40]];
    expect(await parallelPass(joinLines(swapped), cef.manifest, [42])).toBe(false);
    expect(await verifyBoth(joinLines(swapped), cef.manifest)).toMatchObject({ ok: false, code: 'SEQ_GAP', line: 41 });
  });

  test('file-level problems are reported as a single pass reports them', async () => {
    expect(await verifyBoth(text.slice(0, -1))).toMatchObject({ ok: false, code: 'FILE_TRUNCATED', line: 81 });
    expect(await verifyBoth(joinLines(lines(text).slice(0, 60)))).toMatchObject({ ok: false, code: 'EVENT_COUNT_MISMATCH', line: 61 });
    const bytes = Buffer.from(text);
    const middle = bytes.indexOf('\n', Math.floor(bytes.length / 2)) + 1;
    const badUtf8 = Buffer.concat([bytes.subarray(0, middle), Buffer.from([0xff, 0xfe, 0x0a]), bytes.subarray(middle)]);
    const lineAfter = bytes.subarray(0, middle).toString().split('\n').length;
    expect(await verifyBoth(badUtf8)).toMatchObject({ ok: false, code: 'FILE_NOT_UTF8', line: lineAfter });
    expect(await verifyBoth(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]))).toMatchObject({ ok: false, code: 'FILE_SHA256_MISMATCH', line: null });
    expect(await verifyBoth(text, { ...manifest, event_count: 80 })).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
  });
});
