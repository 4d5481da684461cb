import { sql } from 'drizzle-orm';
import { systemClock, type Clock } from '../clock';
import { rowsOf } from '../db/migrate';
import type { DbOrTx } from '../db/types';
import type { Sha256Factory } from '../hash';
import { AppError, type FieldProblem } from '../http/errors';
import { formatCefEvent } from './cef';
import { canonicalEventJson, normalizeTimestamp } from './hashing';
import { EXPORT_FORMATS, signManifest, type ExportFormat, type ManifestSigner, type SignedAuditManifest } from './manifest';
import { readHead, resolveSeqRange, type SeqRange } from './queries';
import type { AuditEvent, AuditEventInput } from './types';

export interface ExportSelection {
  /** ISO-8601, inclusive. */
  from?: string;
  /** ISO-8601, exclusive. */
  to?: string;
  /** Only this resource's events (its provenance); combinable with from/to. */
  resource_id?: string;
  /**
   * Continue a feed: the stretch starts right after this seq (the previous export's `last_seq`)
   * instead of at the first event at or after `from`, so consecutive exports join without a gap
   * even when an event reached the chain after the previous export was opened. `from` still names
   * the window in the manifest.
   */
  after_seq?: number;
}

export interface ExportOptions {
  /** Default `jsonl`. */
  format?: ExportFormat;
  /** Native SHA-256 (services.sha256): the file digest is computed while it streams. */
  sha256: Sha256Factory;
  clock?: Clock;
  /** Frostbyte's version, for the CEF header. Required for `cef`. */
  productVersion?: string;
  /** Events read per query. Default 1,000. */
  pageSize?: number;
}

export interface AuditExportStream {
  /** The seq stretch the export covers, fixed when it was opened; null when it is empty. */
  readonly range: SeqRange | null;
  /** The file as text lines, each ending in `\n`. Consume either `lines` or `body()`, once. */
  readonly lines: AsyncIterable<string>;
  /** The same file as UTF-8 bytes, for ObjectStore.put. */
  body(): ReadableStream<Uint8Array>;
  /** After the file was read to the end: the signed manifest. */
  sign(signer: ManifestSigner): Promise<SignedAuditManifest>;
}

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = { jsonl: 'application/x-ndjson', cef: 'text/plain; charset=utf-8' };

/** Object keys of an export in the tenant's bucket. */
export function auditExportKeys(tenantId: string, exportId: string, format: ExportFormat) {
  const dir = `audit-exports/${tenantId}/${exportId}`;
  return { file: `${dir}/events.${format === 'cef' ? 'cef' : 'jsonl'}`, manifest: `${dir}/manifest.json` };
}

const encoder = new TextEncoder();

/**
 * Opens an export of a tenant's events (DESIGN §6) without holding them in memory: events are
 * read `pageSize` at a time in seq order and rendered one per line — JSON Lines (the RFC 8785
 * canonical JSON of each event, exactly what its hash covers plus `hash`) or CEF — while the
 * file's SHA-256 and the manifest's chain fields accumulate.
 *
 * A time range exports the contiguous stretch of the chain that covers it (see resolveSeqRange),
 * fixed when the export is opened, so a verifier can check every link; a resource export holds
 * that resource's events only. Invalid selections are an AppError VALIDATION_FAILED.
 */
export async function openAuditExport(db: DbOrTx, tenantId: string, selection: ExportSelection, opts: ExportOptions): Promise<AuditExportStream> {
  const format = opts.format ?? 'jsonl';
  const problems: FieldProblem[] = [];
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) problems.push({ field: 'format', message: `must be one of ${EXPORT_FORMATS.join(', ')}` });
  const from = selection.from === undefined ? null : normalizeTimestamp(selection.from);
  if (from === null && selection.from !== undefined) problems.push({ field: 'from', message: 'must be an ISO-8601 time' });
  const to = selection.to === undefined ? null : normalizeTimestamp(selection.to);
  if (to === null && selection.to !== undefined) problems.push({ field: 'to', message: 'must be an ISO-8601 time' });
  if (from && to && from >= to) problems.push({ field: 'to', message: 'must be later than from' });
  if (selection.resource_id !== undefined && selection.resource_id.length === 0) problems.push({ field: 'resource_id', message: 'must not be empty' });
  const afterSeq = selection.after_seq;
  if (afterSeq !== undefined && (!Number.isSafeInteger(afterSeq) || afterSeq < 0)) problems.push({ field: 'after_seq', message: 'must be a whole number' });
  if (format === 'cef' && !opts.productVersion) throw new Error('openAuditExport: productVersion is required for CEF');
  if (problems.length) throw new AppError('VALIDATION_FAILED', 'Invalid audit export request.', { errors: problems });

  const clock = opts.clock ?? systemClock;
  const pageSize = opts.pageSize ?? 1000;
  const head = await readHead(db, tenantId);
  let range = await resolveSeqRange(db, tenantId, { from: afterSeq === undefined ? from : null, to }, head);
  if (range && afterSeq !== undefined) range = range.last > afterSeq ? { first: Math.max(range.first, afterSeq + 1), last: range.last } : null;
  const render = format === 'cef' ? (e: AuditEvent) => formatCefEvent(e, opts.productVersion as string) : (e: AuditEvent) => canonicalEventJson(e);

  const digest = opts.sha256();
  const stats = { count: 0, firstSeq: null as number | null, lastSeq: null as number | null, firstPrevHash: null as string | null, lastHash: null as string | null };
  let started = false;
  let finished = false;
  let fileSha: string | null = null;

  // Plain SQL rather than the query builder: its per-row mapping costs more than rendering the row.
  const resourceFilter = selection.resource_id !== undefined ? sql` AND resource_id = ${selection.resource_id}` : sql``;
  const readPage = async (from: number, last: number): Promise<AuditEvent[]> => {
    const result = await db.execute(sql`
      SELECT event_id, seq, event_type, "timestamp", actor, resource_type, resource_id, details, previous_event_id, prev_hash, hash
      FROM audit_events
      WHERE tenant_id = ${tenantId} AND seq >= ${from} AND seq <= ${last}${resourceFilter}
      ORDER BY seq
      LIMIT ${pageSize}`);
    const events = rowsOf<AuditEvent>(result);
    for (const e of events) {
      // bigint arrives as text (postgres.js) or a number (PGlite); the tenant is the one selected.
      e.seq = Number(e.seq);
      e.tenant_id = tenantId;
    }
    return events;
  };
  /** Starts reading a page that is awaited later: a failure meanwhile must not count as unhandled. */
  const readAhead = (from: number, last: number) => {
    const page = readPage(from, last);
    page.catch(() => undefined);
    return page;
  };

  /**
   * The file page by page as UTF-8 bytes, digested once, and as text lines when `withLines`. Each
   * line is encoded straight into one growing scratch buffer (no joined page text), and the next
   * page is read while this one is rendered and consumed, so the database and this thread work
   * at the same time.
   */
  async function* pages(withLines: boolean): AsyncGenerator<{ lines: string[]; bytes: Uint8Array }> {
    if (started) throw new Error('an audit export can be read only once');
    started = true;
    let scratch = new Uint8Array(1 << 20);
    let pending = range ? readAhead(range.first, range.last) : null;
    while (range && pending) {
      const events = await pending;
      pending = null;
      if (events.length === 0) break;
      const next = events[events.length - 1].seq + 1;
      if (events.length === pageSize && next <= range.last) pending = readAhead(next, range.last);
      const lines: string[] = [];
      let size = 0;
      for (const e of events) {
        if (stats.count === 0) {
          stats.firstSeq = e.seq;
          stats.firstPrevHash = e.prev_hash;
        }
        stats.count++;
        stats.lastSeq = e.seq;
        stats.lastHash = e.hash;
        const line = render(e);
        if (withLines) lines.push(`${line}\n`);
        // UTF-8 takes at most 3 bytes per UTF-16 code unit, plus the line end.
        if (scratch.length - size < line.length * 3 + 1) {
          const grown = new Uint8Array(Math.max(scratch.length * 2, size + line.length * 3 + 1));
          grown.set(scratch.subarray(0, size));
          scratch = grown;
        }
        size += encoder.encodeInto(line, scratch.subarray(size)).written;
        scratch[size++] = 0x0a;
      }
      const bytes = scratch.slice(0, size);
      digest.update(bytes);
      yield { lines, bytes };
    }
    fileSha = digest.digestHex();
    finished = true;
  }

  return {
    range,
    lines: {
      async *[Symbol.asyncIterator]() {
        for await (const page of pages(true)) yield* page.lines;
      },
    },
    body() {
      const it = pages(false);
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { value, done } = await it.next();
          if (done) controller.close();
          else controller.enqueue(value.bytes);
        },
        async cancel() {
          await it.return(undefined);
        },
      });
    },
    async sign(signer) {
      if (!finished || fileSha === null) throw new Error('sign() needs the export file to have been read to the end');
      return signManifest(
        {
          tenant_id: tenantId,
          format,
          from,
          to,
          ...(selection.resource_id !== undefined ? { resource_id: selection.resource_id } : {}),
          event_count: stats.count,
          file_sha256: fileSha,
          first_seq: stats.firstSeq,
          last_seq: stats.lastSeq,
          first_prev_hash: stats.firstPrevHash,
          last_hash: stats.lastHash,
          created_at: clock.now().toISOString(),
        },
        signer,
      );
    },
  };
}

/**
 * Runs a whole export: streams the file to `write` (e.g. `(body) => store.put(key, body)`), then
 * signs the manifest. The caller stores the manifest and appends `auditExportedEvent(...)`.
 */
export async function exportAuditEvents(
  db: DbOrTx,
  tenantId: string,
  selection: ExportSelection,
  opts: ExportOptions & { signer: ManifestSigner; write: (body: ReadableStream<Uint8Array>) => Promise<void> },
): Promise<SignedAuditManifest> {
  const exp = await openAuditExport(db, tenantId, selection, opts);
  await opts.write(exp.body());
  return exp.sign(opts.signer);
}

/** The AUDIT_EXPORTED event that records an export in the tenant's own chain. */
export function auditExportedEvent(exportId: string, manifest: SignedAuditManifest, actor: string): AuditEventInput {
  return {
    event_type: 'AUDIT_EXPORTED',
    actor,
    resource_type: 'export',
    resource_id: exportId,
    details: {
      component: 'audit',
      status: 'success',
      format: manifest.format,
      from: manifest.from,
      to: manifest.to,
      ...(manifest.resource_id !== undefined ? { exported_resource_id: manifest.resource_id } : {}),
      event_count: manifest.event_count,
      first_seq: manifest.first_seq,
      last_seq: manifest.last_seq,
      output_hash: manifest.file_sha256,
      kid: manifest.kid,
    },
  };
}
