import canonicalize from 'canonicalize';
import { and, eq, inArray, notInArray } from 'drizzle-orm';
import * as v from 'valibot';
import { recordEvents } from '../audit/record';
import type { AuditEventInput } from '../audit/types';
import type { FileStatus, Stages } from '../db/schema/tenant';
import { AppError } from '../http/errors';
import { sha256Hex } from '../hash';
import { newId } from '../ids';
import { detectFormat, SNIFF_BYTES, SUPPORTED_MIME_TYPES } from '../parse/detect-format';
import type { ScanResult, ScanSession } from '../scanner/malware-scanner';
import type { Services } from '../services';
import { quarantineKey, rawKey, stagingKey } from '../storage/object-store';
import type { DataPlane } from '../tenants/data-plane';
import type { Tenant } from '../tenants/tenants';
import { enqueueSteps } from '../queue/outbox';
import { completeBatchIfDone } from './batch-status';
import { ManifestSchema, type Manifest, type ManifestFile } from './manifest';
import { drain, readMultipart, readPartText, type FileStream, type Part } from './multipart';

const MiB = 1024 * 1024;
const MANIFEST_MAX_BYTES = 4 * MiB;

export type FileOutcome = 'accepted' | 'rejected' | 'quarantined' | 'duplicate';
export type RejectReason = 'UNSUPPORTED_FORMAT' | 'SIZE_EXCEEDED' | 'CHECKSUM_MISMATCH' | 'MISSING_FILE';
export type ScanStatus = 'clean' | 'infected' | 'error' | 'not_scanned';

export interface BatchReceipt {
  batch_id: string;
  tenant_id: string;
  file_count: number;
  accepted: number;
  rejected: number;
  quarantined: number;
  duplicates: number;
  received_at: string;
  scan_result: 'scanned' | 'not_scanned';
  receipts: { receipt_id: string; file_id: string; doc_id: string; status: FileOutcome; sha256: string | null; duplicate_of?: string }[];
  rejected_files: { file_id: string; reason: RejectReason; message: string }[];
  quarantined_files: { file_id: string; reason: 'MALWARE_DETECTED' | 'SCAN_FAILED'; message: string }[];
}

interface Received {
  entry: ManifestFile;
  position: number;
  outcome: FileOutcome;
  reason?: RejectReason | 'MALWARE_DETECTED' | 'SCAN_FAILED';
  message?: string;
  sha256: string | null;
  size: number | null;
  detectedMime: string | null;
  staging: string | null;
  scan: ScanStatus;
  threat?: string;
  duplicateOf?: string;
  docId: string;
}

/** Effective limits: the platform's, narrowed by the tenant's config. */
export function intakeLimits(services: Services, tenant: Tenant) {
  const cfg = tenant.config ?? {};
  const maxFileMb = Math.min(services.env.MAX_FILE_SIZE_MB, cfg.max_file_size_mb ?? Infinity);
  const allow = cfg.mime_allowlist?.length ? SUPPORTED_MIME_TYPES.filter((m) => cfg.mime_allowlist?.includes(m)) : [...SUPPORTED_MIME_TYPES];
  return {
    maxFileBytes: maxFileMb * MiB,
    maxFileMb,
    maxFiles: Math.min(services.env.MAX_FILES_PER_BATCH, cfg.max_files_per_batch ?? Infinity),
    mimeAllowlist: allow,
  };
}

/** Declared types that name the same bytes as the detected one. */
function declaredMatches(declared: string, detected: string): boolean {
  const d = declared.toLowerCase();
  if (d === detected || d === 'application/octet-stream') return true;
  const aliases: Record<string, string[]> = {
    'text/plain': ['text/csv', 'text/markdown'],
    'text/csv': ['text/plain', 'application/csv', 'application/vnd.ms-excel'],
    'image/tiff': ['image/tif'],
    'application/pdf': ['application/x-pdf'],
  };
  return aliases[detected]?.includes(d) ?? false;
}

export async function manifestDigest(manifest: Manifest): Promise<string> {
  return sha256Hex(canonicalize(manifest) ?? '');
}

/**
 * POST /ingest/{tenant}/batch. One pass per file: size, SHA-256, magic-byte type and the malware
 * scan are computed while the bytes stream to a staging object. Only when the whole body has
 * arrived and matches the manifest are objects moved to `raw/…` (or `quarantine/…`) and the
 * batch, files, receipts, audit events and parse messages committed in one transaction. Any
 * failure before that deletes what was staged: no half-written batch, nothing accepted lost.
 */
export async function submitBatch(
  services: Services,
  plane: DataPlane,
  tenant: Tenant,
  input: { contentType: string | undefined; body: ReadableStream<Uint8Array> | null; actor: string },
): Promise<{ receipt: BatchReceipt; replayed: boolean }> {
  if (!input.contentType || !/^multipart\/form-data/i.test(input.contentType) || !input.body) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the batch as multipart/form-data: a `manifest` part first, then one `files` part per file.');
  }
  const limits = intakeLimits(services, tenant);
  const parts = readMultipart(input.contentType, input.body, {
    fileSize: limits.maxFileBytes + 1,
    files: limits.maxFiles + 1,
    fieldSize: MANIFEST_MAX_BYTES,
  });
  const iterator = parts[Symbol.asyncIterator]();
  const staged: string[] = [];
  const cleanup = async () => {
    parts.abort();
    await plane.store.settle?.().catch(() => {});
    await Promise.all(staged.map((k) => plane.store.delete(k).catch(() => {})));
  };

  try {
    const first = await iterator.next();
    if (first.done) throw new AppError('MANIFEST_INVALID', 'The body has no parts; the first part must be `manifest`.');
    const manifest = await readManifest(first.value, tenant.id, limits.maxFiles);
    const digest = await manifestDigest(manifest);

    const previous = await plane.db
      .select({ manifestSha256: plane.tables.batches.manifestSha256, receipt: plane.tables.batches.receipt })
      .from(plane.tables.batches)
      .where(eq(plane.tables.batches.batchId, manifest.batch_id))
      .limit(1);
    if (previous.length) {
      await drainAll(iterator);
      if (previous[0].manifestSha256 !== digest) {
        throw new AppError('BATCH_ID_CONFLICT', `Batch ${manifest.batch_id} was already submitted with a different manifest. Use a new batch_id.`);
      }
      return { receipt: previous[0].receipt as unknown as BatchReceipt, replayed: true };
    }

    const received = new Map<number, Received>();
    const byName = new Map<string, number[]>();
    manifest.files.forEach((f, i) => byName.set(f.filename, [...(byName.get(f.filename) ?? []), i]));
    let fileParts = 0;
    let unmatched = 0;

    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const part = next.value;
      if (part.kind !== 'file' || (part.name !== 'files' && part.name !== 'files[]')) {
        if (part.kind === 'file') await drain(part.stream);
        continue;
      }
      fileParts++;
      const slots = byName.get(part.filename) ?? [];
      const position = slots.find((i) => !received.has(i));
      if (position === undefined) {
        unmatched++;
        await drain(part.stream);
        continue;
      }
      const entry = manifest.files[position];
      received.set(position, await receiveFile(services, plane, tenant, limits, entry, position, part.stream, staged));
    }

    if (unmatched > 0) {
      throw new AppError(
        'MANIFEST_FILE_COUNT_MISMATCH',
        `The manifest lists ${manifest.files.length} files but the body carried ${fileParts} file parts, ${unmatched} of them with a filename the manifest does not list (or listed fewer times).`,
      );
    }

    const outcomes = manifest.files.map((entry, position): Received =>
      received.get(position) ?? {
        entry, position, outcome: 'rejected', reason: 'MISSING_FILE',
        message: `No file part named ${JSON.stringify(entry.filename)} arrived for file_id ${entry.file_id}.`,
        sha256: null, size: null, detectedMime: null, staging: null, scan: 'not_scanned', docId: newId('doc'),
      },
    );
    await markDuplicates(plane, outcomes);
    // Every stored byte is on disk before the receipt says so.
    await plane.store.settle?.();
    await placeObjects(plane, tenant.id, outcomes);
    const receipt = await commitBatch(services, plane, tenant, manifest, digest, outcomes, input.actor);
    return { receipt, replayed: false };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function readManifest(part: Part, tenantId: string, maxFiles: number): Promise<Manifest> {
  if (part.name !== 'manifest') {
    if (part.kind === 'file') await drain(part.stream);
    throw new AppError('MANIFEST_INVALID', `The first part must be \`manifest\` (got \`${part.name}\`).`);
  }
  const text = part.kind === 'field' ? part.value : await readPartText(part.stream, MANIFEST_MAX_BYTES);
  if (part.kind === 'field' && part.truncated) throw new AppError('MANIFEST_INVALID', `The manifest is larger than ${MANIFEST_MAX_BYTES} bytes.`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new AppError('MANIFEST_INVALID', `The manifest is not valid JSON: ${e instanceof Error ? e.message : 'parse error'}.`);
  }
  const parsed = v.safeParse(ManifestSchema, json);
  if (!parsed.success) {
    throw new AppError('MANIFEST_INVALID', 'The manifest does not match the schema; see `errors`.', {
      errors: parsed.issues.map((i) => ({ field: v.getDotPath(i) ?? '(manifest)', message: i.message })),
    });
  }
  const m = parsed.output;
  if (m.tenant_id !== tenantId) {
    throw new AppError('MANIFEST_INVALID', `The manifest's tenant_id (${m.tenant_id}) is not the tenant in the URL (${tenantId}).`, {
      errors: [{ field: 'tenant_id', message: `must be ${tenantId}` }],
    });
  }
  if (m.files.length > maxFiles) throw new AppError('BATCH_TOO_LARGE', `A batch may hold at most ${maxFiles} files; this one lists ${m.files.length}. Split it.`);
  if (m.file_count !== m.files.length) {
    throw new AppError('MANIFEST_FILE_COUNT_MISMATCH', `file_count is ${m.file_count} but files[] lists ${m.files.length} entries.`, {
      expected: m.file_count,
      actual: m.files.length,
    });
  }
  const seen = new Set<string>();
  const dupes = new Set<string>();
  for (const f of m.files) (seen.has(f.file_id) ? dupes : seen).add(f.file_id);
  if (dupes.size) throw new AppError('DUPLICATE_FILE_ID', `file_id must be unique within a batch; repeated: ${[...dupes].join(', ')}.`, { file_ids: [...dupes] });
  return m;
}

async function drainAll(iterator: AsyncIterator<Part>) {
  for (;;) {
    const n = await iterator.next();
    if (n.done) return;
    if (n.value.kind === 'file') await drain(n.value.stream);
  }
}

async function receiveFile(
  services: Services,
  plane: DataPlane,
  tenant: Tenant,
  limits: ReturnType<typeof intakeLimits>,
  entry: ManifestFile,
  position: number,
  stream: FileStream,
  staged: string[],
): Promise<Received> {
  const staging = stagingKey(tenant.id, newId('msg'));
  const hasher = services.sha256();
  const head = new Uint8Array(SNIFF_BYTES);
  let headLen = 0;
  let size = 0;
  let scan: ScanSession | null = null;
  if (services.scanner) {
    try {
      scan = await services.scanner.start();
    } catch {
      throw new AppError('SERVICE_UNAVAILABLE', 'The malware scanner is unavailable; nothing from this request was kept. Retry shortly.', { headers: { 'Retry-After': '30' } });
    }
  }
  const source = stream[Symbol.asyncIterator]();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await source.next();
      if (done) {
        controller.close();
        return;
      }
      size += value.length;
      hasher.update(value);
      if (headLen < SNIFF_BYTES) {
        const take = Math.min(SNIFF_BYTES - headLen, value.length);
        head.set(value.subarray(0, take), headLen);
        headLen += take;
      }
      if (scan) await scan.write(value);
      controller.enqueue(value);
    },
    async cancel(reason) {
      await source.return?.(reason);
    },
  });
  staged.push(staging);
  try {
    await plane.store.put(staging, body, { syncLater: true });
  } catch (e) {
    scan?.abort();
    throw e instanceof AppError ? e : e;
  }
  const scanResult: ScanResult | null = scan ? await scan.finish() : null;
  const sha256 = hasher.digestHex();
  const base = { entry, position, sha256, size, staging, docId: newId('doc'), scan: (scanResult?.status ?? 'not_scanned') as ScanStatus };
  const detected = await detectFormat(head.subarray(0, headLen));
  const reject = (reason: RejectReason, message: string): Received => ({ ...base, detectedMime: detected?.mime ?? null, outcome: 'rejected', reason, message });

  if (stream.truncated) return reject('SIZE_EXCEEDED', `The file is larger than this tenant's limit of ${limits.maxFileMb} MiB (${limits.maxFileBytes} bytes).`);
  if (!detected || !limits.mimeAllowlist.includes(detected.mime)) {
    return reject('UNSUPPORTED_FORMAT', `The bytes are ${detected ? detected.mime : 'not a recognised document type'}; accepted types: ${limits.mimeAllowlist.join(', ')}.`);
  }
  if (!declaredMatches(entry.mime_type, detected.mime)) {
    return reject('UNSUPPORTED_FORMAT', `The manifest declares ${entry.mime_type} but the bytes are ${detected.mime}.`);
  }
  if (sha256 !== entry.sha256) {
    const sizeNote = size !== entry.size_bytes ? ` Received ${size} bytes; the manifest says ${entry.size_bytes}.` : '';
    return reject('CHECKSUM_MISMATCH', `SHA-256 mismatch: expected ${entry.sha256}, computed ${sha256}.${sizeNote}`);
  }
  if (scanResult?.status === 'infected') {
    return { ...base, detectedMime: detected.mime, outcome: 'quarantined', reason: 'MALWARE_DETECTED', message: `Malware detected by ${scanResult.engine}: ${scanResult.threat}.`, threat: scanResult.threat };
  }
  if (scanResult?.status === 'error') {
    return { ...base, detectedMime: detected.mime, outcome: 'quarantined', reason: 'SCAN_FAILED', message: `The malware scan could not complete (${scanResult.message}); the file is held in quarantine for review.` };
  }
  return { ...base, detectedMime: detected.mime, outcome: 'accepted' };
}

/** Same bytes already held for this tenant (or earlier in this batch) become `duplicate`. */
async function markDuplicates(plane: DataPlane, outcomes: Received[]) {
  const accepted = outcomes.filter((o) => o.outcome === 'accepted' && o.sha256);
  if (!accepted.length) return;
  const { files } = plane.tables;
  const held = await plane.db
    .select({ docId: files.docId, sha256: files.sha256 })
    .from(files)
    .where(and(inArray(files.sha256, accepted.map((o) => o.sha256 as string)), notInArray(files.status, ['rejected', 'quarantined', 'duplicate'])));
  const owner = new Map(held.map((h) => [h.sha256 as string, h.docId]));
  for (const o of accepted) {
    const existing = owner.get(o.sha256 as string);
    if (existing) {
      o.outcome = 'duplicate';
      o.duplicateOf = existing;
    } else owner.set(o.sha256 as string, o.docId);
  }
}

/** Staging objects become `raw/…` (accepted), `quarantine/…` (malware) or go away. */
async function placeObjects(plane: DataPlane, tenantId: string, outcomes: Received[]) {
  for (const o of outcomes) {
    if (!o.staging) continue;
    if (o.outcome === 'accepted') await plane.store.move(o.staging, rawKey(tenantId, o.entry.file_id, o.sha256 as string));
    else if (o.outcome === 'quarantined') await plane.store.move(o.staging, quarantineKey(tenantId, o.entry.file_id, o.sha256 as string));
    else await plane.store.delete(o.staging);
  }
}

const STATUS_OF: Record<FileOutcome, FileStatus> = { accepted: 'received', rejected: 'rejected', quarantined: 'quarantined', duplicate: 'duplicate' };

async function commitBatch(
  services: Services,
  plane: DataPlane,
  tenant: Tenant,
  manifest: Manifest,
  digest: string,
  outcomes: Received[],
  actor: string,
): Promise<BatchReceipt> {
  const now = services.clock.now();
  const at = now.toISOString();
  const receipts = outcomes.map((o) => ({ ...o, receiptId: newId('rcp') }));
  const receipt: BatchReceipt = {
    batch_id: manifest.batch_id,
    tenant_id: tenant.id,
    file_count: manifest.file_count,
    accepted: outcomes.filter((o) => o.outcome === 'accepted').length,
    rejected: outcomes.filter((o) => o.outcome === 'rejected').length,
    quarantined: outcomes.filter((o) => o.outcome === 'quarantined').length,
    duplicates: outcomes.filter((o) => o.outcome === 'duplicate').length,
    received_at: at,
    scan_result: services.scanner ? 'scanned' : 'not_scanned',
    receipts: receipts.map((r) => ({
      receipt_id: r.receiptId, file_id: r.entry.file_id, doc_id: r.docId, status: r.outcome, sha256: r.sha256,
      ...(r.duplicateOf ? { duplicate_of: r.duplicateOf } : {}),
    })),
    rejected_files: outcomes.filter((o) => o.outcome === 'rejected').map((o) => ({ file_id: o.entry.file_id, reason: o.reason as RejectReason, message: o.message ?? '' })),
    quarantined_files: outcomes.filter((o) => o.outcome === 'quarantined').map((o) => ({ file_id: o.entry.file_id, reason: o.reason as 'MALWARE_DETECTED' | 'SCAN_FAILED', message: o.message ?? '' })),
  };
  const { batches, files, receipts: receiptTable } = plane.tables;
  const stage = (state: Stages['intake']['state'], started: string | null = null, finished: string | null = null) => ({ state, started_at: started, finished_at: finished });

  try {
    await plane.db.transaction(async (tx) => {
      await tx.insert(batches).values({
        batchId: manifest.batch_id, manifestSha256: digest, manifest: manifest as unknown as Record<string, unknown>,
        receipt: receipt as unknown as Record<string, unknown>, status: 'processing', submitter: manifest.submitter ?? null,
        submittedAt: manifest.submitted_at ? new Date(manifest.submitted_at) : now, updatedAt: now,
      });
      await tx.insert(files).values(receipts.map((r) => ({
        docId: r.docId, batchId: manifest.batch_id, fileId: r.entry.file_id, position: r.position,
        originalFilename: r.entry.filename, declaredMime: r.entry.mime_type, detectedMime: r.detectedMime,
        sizeBytes: r.size, sha256: r.sha256, status: STATUS_OF[r.outcome],
        storageKey: r.outcome === 'accepted' ? rawKey(tenant.id, r.entry.file_id, r.sha256 as string) : r.outcome === 'quarantined' ? quarantineKey(tenant.id, r.entry.file_id, r.sha256 as string) : null,
        duplicateOf: r.duplicateOf ?? null, scanResult: r.scan,
        stages: {
          intake: stage(r.outcome === 'rejected' || r.outcome === 'quarantined' ? 'failed' : 'done', at, at),
          parse: stage(r.outcome === 'accepted' ? 'pending' : 'skipped'),
          index: stage(r.outcome === 'accepted' ? 'pending' : 'skipped'),
        },
        error: r.outcome === 'rejected' || r.outcome === 'quarantined' ? { stage: 'intake' as const, code: r.reason as string, message: r.message ?? '', attempts: 1 } : null,
        createdAt: now, updatedAt: now,
      })));
      await tx.insert(receiptTable).values(receipts.map((r) => ({
        receiptId: r.receiptId, batchId: manifest.batch_id, fileId: r.entry.file_id, docId: r.docId, status: r.outcome,
        sha256: r.sha256, sizeBytes: r.size, duplicateOf: r.duplicateOf ?? null, reason: r.reason ?? null, message: r.message ?? null,
        scanResult: r.scan, receivedAt: now,
      })));

      const events: AuditEventInput[] = [{
        event_type: 'BATCH_RECEIVED', actor, resource_type: 'batch', resource_id: manifest.batch_id,
        details: { component: 'intake', file_count: manifest.file_count, manifest_sha256: digest, accepted: receipt.accepted, rejected: receipt.rejected, quarantined: receipt.quarantined, duplicates: receipt.duplicates },
      }];
      for (const r of receipts) {
        const common = { component: 'intake', batch_id: manifest.batch_id, file_id: r.entry.file_id, receipt_id: r.receiptId };
        if (r.outcome === 'accepted') {
          events.push({ event_type: 'DOCUMENT_INGESTED', actor, resource_type: 'document', resource_id: r.docId, details: {
            ...common, sha256: r.sha256, size_bytes: r.size, mime_type: r.detectedMime, storage_key: rawKey(tenant.id, r.entry.file_id, r.sha256 as string),
            scan_result: r.scan, output_hash: r.sha256 as string, status: 'accepted',
          } });
        } else if (r.outcome === 'duplicate') {
          events.push({ event_type: 'DOCUMENT_DUPLICATE', actor, resource_type: 'document', resource_id: r.docId, details: { ...common, sha256: r.sha256, duplicate_of: r.duplicateOf, status: 'duplicate' } });
        } else if (r.outcome === 'quarantined') {
          events.push({ event_type: 'DOCUMENT_QUARANTINED', actor, resource_type: 'document', resource_id: r.docId, details: { ...common, sha256: r.sha256, reason: r.reason, scan_engine: services.scanner?.engine ?? null, threat_name: r.threat ?? null, status: 'quarantined' } });
        } else {
          events.push({ event_type: 'DOCUMENT_REJECTED', actor, resource_type: 'document', resource_id: r.docId, details: { ...common, reason: r.reason, failed_check: r.reason, computed_sha256: r.sha256, status: 'rejected' } });
        }
      }
      await recordEvents(tx, plane.tables, events, services.clock);

      await enqueueSteps(tx, plane.tables, services.clock, receipts.filter((r) => r.outcome === 'accepted').map((r) => ({
        topic: 'parse', dedupId: `${r.docId}:parse:${r.sha256}`, tenantId: tenant.id,
        payload: { tenant_id: tenant.id, doc_id: r.docId, batch_id: manifest.batch_id, file_id: r.entry.file_id, sha256: r.sha256, storage_key: rawKey(tenant.id, r.entry.file_id, r.sha256 as string), mime_type: r.detectedMime },
      })));
      await completeBatchIfDone(services, tx, plane.tables, manifest.batch_id);
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new AppError('BATCH_ID_CONFLICT', `Batch ${manifest.batch_id} was submitted concurrently by another request. Fetch its status, or resubmit to replay the receipt.`);
    }
    throw err;
  }
  services.onAuditRecorded?.(tenant.id);
  if (receipt.accepted > 0) services.onOutboxWritten?.(tenant.id);
  for (const o of outcomes) {
    services.metrics?.count('frostbyte_intake_files_total', { tenant_id: tenant.id, outcome: o.outcome });
    if (o.size) services.metrics?.count('frostbyte_intake_bytes_total', { tenant_id: tenant.id }, o.size);
  }
  return receipt;
}

function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === '23505') return true;
  }
  return false;
}
