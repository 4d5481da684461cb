import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestFileSchema, ManifestSchema, type Manifest } from '../shared/intake/manifest';
import { REMEDIATION } from '../shared/pipeline/remediation';
import { readMultipart, readPartText } from '../shared/intake/multipart';
import { encodeBatchUpload, type UploadProgress } from '../shared/node/batch-upload';
import { digestFile } from '../shared/node/file-digest';
import { collectInputFiles } from '../shared/node/local-files';
import { QUARANTINE_REASONS, REJECT_REASONS, type BatchStatusBody } from '../shared/vendor/api-schemas';
import { apiRoot, readTokenClaims } from '../shared/vendor/client';
import { everyFileAccepted, formatTable, stageCounts } from '../shared/vendor/format';
import { buildManifest, fileIdsFor, ManifestBuildError, type LocalFileFacts } from '../shared/vendor/manifest';
import { planResubmit, rejectedFilesOf, resubmitBatchIds, type RejectedFile } from '../shared/vendor/resubmit';
import { tinyPdf } from './helpers/batch';

/** The vendor CLI's building blocks on their own: manifest building, hashing, the multipart encoder, resubmission plans. */

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const facts = (filename: string, over: Partial<LocalFileFacts> = {}): LocalFileFacts => ({ filename, size: 10, sha256: hex(filename), mime: 'application/pdf', ...over });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'frostbyte-vendor-units-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('manifest building', () => {
  it('derives stable file ids from filenames, keeping extensions only where stems collide', () => {
    expect(fileIdsFor(['contract_001.pdf', 'scan 7 (final).tiff', 'a.pdf', 'a.docx', 'a b.txt', 'a_b.txt', '.pdf', 'README'])).toEqual([
      'contract_001', 'scan_7__final_', 'a.pdf', 'a.docx', 'a_b.txt', 'a_b.txt-2', '.pdf', 'README',
    ]);
    const long = `${'x'.repeat(200)}.pdf`;
    expect(fileIdsFor([long])[0]).toHaveLength(128);
    expect(fileIdsFor(['q.pdf', 'q.pdf'])).toEqual(['q.pdf', 'q.pdf-2']);
  });

  it('builds what intake validates and warns about what intake will reject', () => {
    const { manifest, warnings } = buildManifest({
      tenantId: 'acme-corp', batchId: 'b-1', submitter: 'dana',
      files: [facts('contract.pdf'), facts('logo.gif', { mime: null }), facts('empty.txt', { size: 0, mime: null }), facts('huge.pdf', { size: 2 * 1024 ** 3 })],
    });
    expect(manifest).toMatchObject({ batch_id: 'b-1', tenant_id: 'acme-corp', file_count: 4, submitter: 'dana' });
    expect(manifest.files[1]).toMatchObject({ file_id: 'logo', mime_type: 'application/octet-stream' });
    expect(warnings.map((w) => [w.file_id, w.code])).toEqual([['logo', 'UNSUPPORTED_FORMAT'], ['empty', 'EMPTY_FILE'], ['huge', 'LARGER_THAN_DEFAULT_LIMIT']]);
  });

  it('refuses what cannot be sent: bad tenant ids, repeated names, quotes in names, no files', () => {
    const attempt = (input: Parameters<typeof buildManifest>[0]) => {
      try {
        buildManifest(input);
        return [];
      } catch (e) {
        expect(e).toBeInstanceOf(ManifestBuildError);
        return (e as ManifestBuildError).problems;
      }
    };
    expect(attempt({ tenantId: 'Acme Corp', batchId: 'b', files: [facts('a.pdf')] })).toEqual(['tenant_id: must be a tenant id (DNS label)']);
    expect(attempt({ tenantId: 'acme-corp', batchId: 'b', files: [facts('a.pdf'), facts('a.pdf')] })[0]).toContain('two files have this name');
    expect(attempt({ tenantId: 'acme-corp', batchId: 'b', files: [facts('say "hi".pdf')] })[0]).toContain('quotes and line breaks');
    expect(attempt({ tenantId: 'acme-corp', batchId: 'b', files: [] })).toContain('no files to send');
    expect(attempt({ tenantId: 'acme-corp', batchId: 'has space', files: [facts('a.pdf')] })[0]).toMatch(/^batch_id: /);
  });
});

describe('local files', () => {
  it('hashes a file in one pass with the size and the format from its first bytes', async () => {
    const pdf = tinyPdf('Master services agreement');
    const big = Buffer.concat([Buffer.from(pdf), randomBytes(3 * 1024 * 1024 + 17)]);
    writeFileSync(join(dir, 'big.pdf'), big);
    let reported = 0;
    const d = await digestFile(join(dir, 'big.pdf'), (n) => (reported += n));
    expect(d).toMatchObject({ filename: 'big.pdf', size: big.length, sha256: createHash('sha256').update(big).digest('hex') });
    expect(d.detected?.mime).toBe('application/pdf');
    expect(reported).toBe(big.length);
  });

  it("lists a directory's documents in name order, leaving out hidden files, folders and the CLI's own JSON", async () => {
    const d = join(dir, 'batch');
    mkdirSync(join(d, 'sub'), { recursive: true });
    for (const f of ['b.pdf', 'a.txt', '.DS_Store', 'manifest.json', 'receipt.json', 'receipt-b-r1.json', 'receipt.manifest.json', 'prices.json']) writeFileSync(join(d, f), 'x');
    const { files, skipped } = await collectInputFiles([d]);
    expect(files.map((f) => f.slice(d.length + 1))).toEqual(['a.txt', 'b.pdf', 'prices.json']);
    expect(skipped.map((s) => s.path.slice(d.length + 1)).sort()).toEqual(['.DS_Store', 'manifest.json', 'receipt-b-r1.json', 'receipt.json', 'receipt.manifest.json', 'sub']);
    await expect(collectInputFiles([join(d, 'nope')])).rejects.toThrow('no such file or directory');
  });
});

describe('multipart upload body', () => {
  it('is read by the intake parser part by part: manifest first, then each file with its name and bytes', async () => {
    const files = [
      { filename: 'contract_001.pdf', bytes: Buffer.from(tinyPdf('one')) },
      { filename: 'Ångström – résumé.txt', bytes: randomBytes(700_000) },
      { filename: 'empty.csv', bytes: Buffer.alloc(0) },
    ];
    for (const f of files) writeFileSync(join(dir, f.filename), f.bytes);
    const manifest: Manifest = {
      batch_id: 'b-enc', tenant_id: 'acme-corp', file_count: 3,
      files: files.map((f, i) => ({ file_id: `f${i}`, filename: f.filename, mime_type: 'application/octet-stream', size_bytes: f.bytes.length, sha256: createHash('sha256').update(f.bytes).digest('hex') })),
    };
    const progress: UploadProgress[] = [];
    const upload = encodeBatchUpload(manifest, files.map((f) => ({ path: join(dir, f.filename), filename: f.filename, size: f.bytes.length })), (p) => progress.push(p));
    expect(upload.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(upload.totalBytes).toBe(files.reduce((n, f) => n + f.bytes.length, 0));

    // Count what the body really is, then parse it with intake's own reader.
    const [forLength, forParser] = upload.body.tee();
    let length = 0;
    const counting = (async () => {
      for await (const c of forLength as unknown as AsyncIterable<Uint8Array>) length += c.length;
    })();
    const parts = readMultipart(upload.contentType, forParser, { fileSize: 10_000_000, files: 10, fieldSize: 1_000_000 });
    const seen: { name: string; filename?: string; bytes: Buffer }[] = [];
    for await (const part of parts) {
      if (part.kind === 'field') seen.push({ name: part.name, bytes: Buffer.from(part.value) });
      else if (part.name === 'manifest') seen.push({ name: part.name, filename: part.filename, bytes: Buffer.from(await readPartText(part.stream, 1_000_000)) });
      else {
        const chunks: Uint8Array[] = [];
        for await (const c of part.stream) chunks.push(c);
        seen.push({ name: part.name, filename: part.filename, bytes: Buffer.concat(chunks) });
      }
    }
    await counting;
    expect(length).toBe(upload.contentLength);
    expect(seen[0].name).toBe('manifest');
    expect(JSON.parse(seen[0].bytes.toString())).toEqual(manifest);
    expect(seen.slice(1).map((p) => [p.name, p.filename, p.bytes.equals(files.find((f) => f.filename === p.filename)?.bytes ?? Buffer.alloc(1))])).toEqual(
      files.map((f) => ['files', f.filename, true]),
    );
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({ bytes: upload.totalBytes, filesDone: 3, current: -1 });
  });
});

describe('resubmission plans', () => {
  const original: Manifest = {
    batch_id: 'b-7', tenant_id: 'acme-corp', file_count: 2,
    files: [
      { file_id: 'file_042', filename: 'file_042.pdf', mime_type: 'application/pdf', size_bytes: 10, sha256: hex('declared-42') },
      { file_id: 'file_043', filename: 'file_043.pdf', mime_type: 'application/pdf', size_bytes: 10, sha256: hex('declared-43') },
    ],
  };
  const rejected: RejectedFile[] = [
    { file_id: 'file_042', filename: 'file_042.pdf', reason: 'CHECKSUM_MISMATCH', message: '', received_sha256: hex('received-42') },
    { file_id: 'file_043', filename: 'file_043.pdf', reason: 'CHECKSUM_MISMATCH', message: '', received_sha256: hex('received-43') },
  ];

  it('with --fix-hashes takes hash and size from disk and reports each change', () => {
    const disk = new Map([
      ['file_042', facts('file_042.pdf', { sha256: hex('disk-42'), size: 11 })],
      ['file_043', facts('file_043.pdf', { sha256: hex('declared-43') })],
    ]);
    const plan = planResubmit({ rejected, disk, original, fixHashes: true });
    expect(plan.problems).toEqual([]);
    expect(plan.entries.map((e) => [e.file_id, e.sha256, e.size_bytes])).toEqual([['file_042', hex('disk-42'), 11], ['file_043', hex('declared-43'), 10]]);
    expect(plan.changes).toEqual([
      { file_id: 'file_042', field: 'sha256', before: hex('declared-42'), after: hex('disk-42') },
      { file_id: 'file_042', field: 'size_bytes', before: 10, after: 11 },
    ]);
    // file_043 on disk matches the manifest, yet intake received other bytes: altered in transit.
    expect(plan.notes).toHaveLength(1);
    expect(plan.notes[0]).toMatch(/^file_043: the file on disk matches the manifest .* they changed on the way/);
  });

  it('without --fix-hashes resends unchanged entries only when the bytes on disk still match', () => {
    const disk = new Map([
      ['file_042', facts('file_042.pdf', { sha256: hex('disk-42') })],
      ['file_043', facts('file_043.pdf', { sha256: hex('declared-43') })],
    ]);
    const plan = planResubmit({ rejected, disk, original, fixHashes: false });
    expect(plan.entries).toEqual([original.files[1]]);
    expect(plan.problems).toEqual([expect.stringMatching(/^file_042: file_042\.pdf on disk has SHA-256 .* rerun with --fix-hashes\.$/)]);
    const noManifest = planResubmit({ rejected, disk, original: null, fixHashes: false });
    expect(noManifest.problems[0]).toContain('pass --manifest');
    const missing = planResubmit({ rejected, disk: new Map(), original, fixHashes: true });
    expect(missing.problems).toEqual(['file_042: file_042.pdf is not in the directory given with --dir', 'file_043: file_043.pdf is not in the directory given with --dir']);
  });

  it('picks rejected files from a status, leaves quarantined and pipeline failures to support, and names the new batch', () => {
    const file = (file_id: string, status: BatchStatusBody['files'][number]['status'], code: string | null) => ({
      file_id, doc_id: `doc_${file_id}`, original_filename: `${file_id}.pdf`, status, sha256: null, size_bytes: null, mime_type: 'application/pdf', duplicate_of: null, scan_result: 'clean',
      stages: { intake: { state: 'done' as const, started_at: null, finished_at: null }, parse: { state: 'skipped' as const, started_at: null, finished_at: null }, index: { state: 'skipped' as const, started_at: null, finished_at: null } },
      error: code ? { stage: 'intake' as const, code, message: code, attempts: 1 } : null,
    });
    const status: BatchStatusBody = {
      batch_id: 'b', tenant_id: 'acme-corp', status: 'completed_with_errors', submitted_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z', completed_at: null,
      summary: { total_files: 4, indexed: 1, processing: 0, failed: 1, rejected: 1, quarantined: 1, duplicate: 0 },
      files: [file('a', 'indexed', null), file('b', 'rejected', 'MISSING_FILE'), file('c', 'quarantined', 'MALWARE_DETECTED'), file('d', 'parse_failed', 'FILE_CORRUPTED')],
    };
    const { resend, leftOut } = rejectedFilesOf(status);
    expect(resend.map((r) => [r.file_id, r.reason])).toEqual([['b', 'MISSING_FILE']]);
    expect(leftOut.map((f) => f.file_id)).toEqual(['c', 'd']);
    expect(stageCounts(status).intake).toEqual({ total: 4, done: 4, failed: 0, running: 0 });

    const ids = resubmitBatchIds('batch-001');
    expect([ids.next().value, ids.next().value]).toEqual(['batch-001-r1', 'batch-001-r2']);
    expect(resubmitBatchIds('batch-001-r1').next().value).toBe('batch-001-r2');
    expect(resubmitBatchIds('x'.repeat(128)).next().value).toHaveLength(128);
  });
});

describe('small helpers', () => {
  it('normalises the endpoint URL, reads token claims, formats tables and decides success', () => {
    expect(apiRoot('https://acme-corp.pipeline.frostbyte.io')).toBe('https://acme-corp.pipeline.frostbyte.io/api/v1');
    expect(apiRoot('https://acme-corp.pipeline.frostbyte.io/api/v1/')).toBe('https://acme-corp.pipeline.frostbyte.io/api/v1');
    expect(apiRoot('http://127.0.0.1:8080/frostbyte')).toBe('http://127.0.0.1:8080/frostbyte/api/v1');
    expect(() => apiRoot('acme-corp')).toThrow('is not a URL');
    const token = `x.${Buffer.from(JSON.stringify({ tenant_id: 'acme-corp', scopes: ['ingest'], exp: 1 })).toString('base64url')}.y`;
    expect(readTokenClaims(token)).toMatchObject({ tenant_id: 'acme-corp', exp: 1 });
    expect(readTokenClaims('garbage')).toBeNull();
    expect(formatTable(['A', 'LONGER'], [['xx', 'y'], ['', 'zz']])).toEqual(['A   LONGER', '--  ------', 'xx  y', '    zz']);
    const receipt = (statuses: ('accepted' | 'duplicate' | 'rejected' | 'quarantined')[]) => ({ receipts: statuses.map((status) => ({ status })) }) as Parameters<typeof everyFileAccepted>[0];
    expect(everyFileAccepted(receipt(['accepted', 'duplicate']))).toBe(true);
    expect(everyFileAccepted(receipt(['accepted', 'rejected']))).toBe(false);
    expect(everyFileAccepted(receipt(['quarantined']))).toBe(false);
  });
});

describe('vendor guide', () => {
  const guide = readFileSync(new URL('../docs/vendor-guide.md', import.meta.url), 'utf8');

  it('explains every reason code a vendor can meet, with what to do', () => {
    for (const code of [...REJECT_REASONS, ...QUARANTINE_REASONS, ...Object.keys(REMEDIATION)]) {
      expect(guide, code).toMatch(new RegExp(`\\| \`${code}\` \\|`));
    }
    for (const code of ['MANIFEST_INVALID', 'MANIFEST_FILE_COUNT_MISMATCH', 'DUPLICATE_FILE_ID', 'BATCH_TOO_LARGE', 'BATCH_ID_CONFLICT', 'RATE_LIMIT_EXCEEDED', 'TOKEN_EXPIRED', 'TENANT_MISMATCH']) {
      expect(guide, code).toContain(`\`${code}\``);
    }
  });

  it('documents every manifest field the intake schema has', () => {
    for (const field of Object.keys(ManifestSchema.entries).filter((f) => f !== 'files')) expect(guide).toContain(`| \`${field}\` |`);
    for (const field of Object.keys(ManifestFileSchema.entries)) expect(guide).toContain(`| \`files[].${field}\` |`);
  });
});
