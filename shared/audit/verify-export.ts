import type { JSONWebKeySet } from 'jose';
import type { Sha256Factory } from '../hash';
import { parseCefEvent } from './cef';
import { canonicalJson, syncTextHasher } from './hashing';
import { verifyManifest, type SignedAuditManifest } from './manifest';
import { isAuditEventType, isAuditResourceType, type AuditEvent } from './types';

export type ExportProblem =
  | 'MANIFEST_INVALID'
  | 'UNKNOWN_KEY'
  | 'SIGNATURE_INVALID'
  | 'FILE_NOT_UTF8'
  | 'FILE_TRUNCATED'
  | 'LINE_EMPTY'
  | 'LINE_NOT_JSON'
  | 'LINE_NOT_CANONICAL'
  | 'EVENT_INVALID'
  | 'TENANT_MISMATCH'
  | 'RESOURCE_MISMATCH'
  | 'HASH_MISMATCH'
  | 'FIRST_SEQ_MISMATCH'
  | 'FIRST_PREV_HASH_MISMATCH'
  | 'SEQ_GAP'
  | 'SEQ_ORDER'
  | 'SEQ_BEYOND_MANIFEST'
  | 'CHAIN_BROKEN'
  | 'DUPLICATE_EVENT'
  | 'PROVENANCE_BROKEN'
  | 'EVENT_COUNT_MISMATCH'
  | 'LAST_HASH_MISMATCH'
  | 'FILE_SHA256_MISMATCH';

export type ExportVerification =
  | { ok: true; summary: string; manifest: SignedAuditManifest }
  | {
      ok: false;
      code: ExportProblem;
      /** 1-based line of the file where the problem shows; null for the manifest or the file as a whole. */
      line: number | null;
      reason: string;
    };

/** Bytes of the file in order, with any chunk boundaries (a file read stream, a fetch body), or the whole file. */
export type ExportFileInput = string | Uint8Array | AsyncIterable<Uint8Array | string>;

const FIELDS = ['actor', 'details', 'event_id', 'event_type', 'hash', 'prev_hash', 'previous_event_id', 'resource_id', 'resource_type', 'seq', 'tenant_id', 'timestamp'];
const HEX64 = /^[0-9a-f]{64}$/;
/** `,"hash":"<64 hex>"`: how much longer a canonical line is than the canonical JSON of its body. */
const HASH_MEMBER_LENGTH = 74;

/** The first problem found; thrown inside verifyExport and returned as a value. */
class Failure extends Error {
  constructor(
    readonly code: ExportProblem,
    readonly line: number | null,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'ExportVerificationFailure';
  }
}

/**
 * Verifies an audit export offline, as `frostbyte audit verify` does: the manifest's shape and
 * Ed25519 signature (against `jwks`), then every line in one pass — each event's hash recomputed
 * from its RFC 8785 canonical JSON (computed once per line), the tenant (and resource), the log
 * chain (seq continuity and prev_hash links; the manifest's first_seq/first_prev_hash at the start
 * and last_seq/last_hash at the end), provenance continuity inside the file (a previous_event_id
 * that points into the file must name the latest earlier event of the same resource), the event
 * count and the file's SHA-256. Stops at the first problem and names its line.
 *
 * A resource export holds one resource's events, not a contiguous stretch of the log chain, so
 * its prev_hash links are checked only between events whose seqs are adjacent.
 * Memory grows with the number of distinct resources and event ids in the file, not with its size.
 */
export async function verifyExport(file: ExportFileInput, manifestInput: unknown, jwks: JSONWebKeySet, opts: { sha256: Sha256Factory }): Promise<ExportVerification> {
  const checked = await verifyManifest(manifestInput, jwks);
  if (!checked.ok) return { ok: false, code: checked.code, line: null, reason: checked.reason };
  const manifest = checked.manifest;
  const checker = new LineChecker(manifest, opts.sha256);
  const fileDigest = opts.sha256();
  try {
    let carry = '';
    let lineNo = 0;
    const consume = (text: string) => {
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        checker.check(text.slice(start, nl), ++lineNo);
        start = nl + 1;
      }
      return text.slice(start);
    };
    if (typeof file === 'string') {
      fileDigest.update(new TextEncoder().encode(file));
      carry = consume(file);
    } else {
      const decoder = new TextDecoder('utf-8', { fatal: true });
      const chunks: AsyncIterable<Uint8Array | string> = file instanceof Uint8Array ? single(file) : file;
      const encoder = new TextEncoder();
      for await (const chunk of chunks) {
        const bytes = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
        fileDigest.update(bytes);
        let text: string;
        try {
          text = decoder.decode(bytes, { stream: true });
        } catch {
          // Name the line: count the line breaks before the first undecodable byte.
          const lossy = new TextDecoder().decode(bytes);
          const at = lineNo + 1 + (lossy.slice(0, Math.max(0, lossy.indexOf('\uFFFD'))).split('\n').length - 1);
          throw new Failure('FILE_NOT_UTF8', at, `line ${at} is not valid UTF-8`);
        }
        carry = consume(carry + text);
      }
      try {
        carry += decoder.decode();
      } catch {
        throw new Failure('FILE_NOT_UTF8', lineNo + 1, `the file ends inside a UTF-8 character (line ${lineNo + 1})`);
      }
    }
    if (carry.length > 0) {
      // The last line has no newline: the exporter always writes one, so the file was cut short.
      throw new Failure('FILE_TRUNCATED', lineNo + 1, `line ${lineNo + 1} has no line ending: the file was truncated`);
    }
    checker.finish(lineNo);
    const sha = fileDigest.digestHex();
    if (sha !== manifest.file_sha256) {
      throw new Failure('FILE_SHA256_MISMATCH', null, `file SHA-256 is ${sha} but the manifest says ${manifest.file_sha256}: the file bytes were changed`);
    }
  } catch (err) {
    if (err instanceof Failure) return { ok: false, code: err.code, line: err.line, reason: err.reason };
    throw err;
  }
  return { ok: true, manifest, summary: summarize(manifest) };
}

/** True when every object in `value` enumerates its members in RFC 8785 order (UTF-16 code units). */
function keysInCanonicalOrder(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) return value.every(keysInCanonicalOrder);
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    if (i > 0 && !(keys[i - 1] < keys[i])) return false;
    if (!keysInCanonicalOrder((value as Record<string, unknown>)[keys[i]])) return false;
  }
  return true;
}

async function* single(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

function summarize(m: SignedAuditManifest): string {
  const scope = m.resource_id !== undefined ? `resource ${m.resource_id} of tenant ${m.tenant_id}` : `tenant ${m.tenant_id}`;
  const seqs = m.event_count === 0 ? 'no events' : `${m.event_count} event${m.event_count === 1 ? '' : 's'}, seq ${m.first_seq}–${m.last_seq}`;
  return `OK: ${seqs} of ${scope} (${m.from ?? 'start'} → ${m.to ?? 'end'}, ${m.format}); hashes, log chain and provenance intact; file sha256 ${m.file_sha256}; signed by ${m.kid} (${m.alg})`;
}

/** The per-line state machine: everything verifyExport checks about events, in file order. */
class LineChecker {
  private readonly hash: (text: string) => string;
  private count = 0;
  private prevSeq = 0;
  private prevHash: string | null = null;
  /** resource_id → event_id of its latest event so far in the file. */
  private readonly latestOfResource = new Map<string, string>();
  private readonly seen = new Set<string>();
  /** previous_event_ids that point at no earlier line: they must not turn up later in the file. */
  private readonly dangling = new Map<string, number>();
  private readonly byRange: boolean;

  constructor(
    private readonly manifest: SignedAuditManifest,
    sha256: Sha256Factory,
  ) {
    this.hash = syncTextHasher(sha256);
    this.byRange = manifest.resource_id === undefined;
  }

  check(line: string, n: number): void {
    const m = this.manifest;
    if (line.length === 0) throw new Failure('LINE_EMPTY', n, `line ${n} is empty`);
    const e = m.format === 'cef' ? this.parseCef(line, n) : this.parseJson(line, n);

    const claimed = e.hash;
    const computed = this.hash(m.format === 'jsonl' ? this.hashInput(line, e, n) : this.canonicalBody(e, n));
    if (computed !== claimed) {
      throw new Failure('HASH_MISMATCH', n, `line ${n} (seq ${e.seq}, ${e.event_id}): the event does not match its hash — a field was edited (hash ${claimed}, recomputed ${computed})`);
    }
    if (e.tenant_id !== m.tenant_id) throw new Failure('TENANT_MISMATCH', n, `line ${n} belongs to tenant ${e.tenant_id}, the manifest to ${m.tenant_id}`);
    if (!this.byRange && e.resource_id !== m.resource_id) {
      throw new Failure('RESOURCE_MISMATCH', n, `line ${n} is an event of ${e.resource_id}, the export is of ${m.resource_id}`);
    }

    // Log chain.
    if (this.count === 0) {
      if (e.seq !== m.first_seq) throw new Failure('FIRST_SEQ_MISMATCH', n, `line ${n} has seq ${e.seq} but the manifest says the file starts at seq ${m.first_seq}: lines were removed or inserted at the start`);
      if (e.prev_hash !== m.first_prev_hash) throw new Failure('FIRST_PREV_HASH_MISMATCH', n, `line ${n}: prev_hash does not match the manifest's first_prev_hash`);
    } else if (e.seq <= this.prevSeq) {
      throw new Failure('SEQ_ORDER', n, `line ${n} has seq ${e.seq} after seq ${this.prevSeq}: lines were reordered or duplicated`);
    } else if (this.byRange && e.seq !== this.prevSeq + 1) {
      throw new Failure('SEQ_GAP', n, `line ${n} has seq ${e.seq} where seq ${this.prevSeq + 1} belongs: an event was removed here or lines were reordered`);
    } else if (e.seq === this.prevSeq + 1 && e.prev_hash !== this.prevHash) {
      throw new Failure('CHAIN_BROKEN', n, `line ${n} (seq ${e.seq}): prev_hash is not the hash of the line before it — an event was inserted, replaced or re-hashed`);
    }
    if (m.last_seq === null || e.seq > m.last_seq) {
      throw new Failure('SEQ_BEYOND_MANIFEST', n, `line ${n} has seq ${e.seq}, past the manifest's last_seq ${m.last_seq ?? '(none)'}: extra lines were added`);
    }

    // Provenance chain inside the file.
    if (this.seen.has(e.event_id)) throw new Failure('DUPLICATE_EVENT', n, `line ${n} repeats event ${e.event_id}`);
    const danglingAt = this.dangling.get(e.event_id);
    if (danglingAt !== undefined) {
      throw new Failure('PROVENANCE_BROKEN', n, `line ${n} (${e.event_id}) is named as previous_event_id by line ${danglingAt}, which comes before it`);
    }
    const latest = this.latestOfResource.get(e.resource_id);
    if (latest !== undefined) {
      if (e.previous_event_id !== latest) {
        throw new Failure('PROVENANCE_BROKEN', n, `line ${n} (${e.event_id}): previous_event_id is ${e.previous_event_id ?? 'null'} but the latest earlier event of ${e.resource_id} in this file is ${latest}`);
      }
    } else if (e.previous_event_id !== null) {
      if (this.seen.has(e.previous_event_id)) {
        throw new Failure('PROVENANCE_BROKEN', n, `line ${n} (${e.event_id}): previous_event_id ${e.previous_event_id} is an event of another resource`);
      }
      if (!this.dangling.has(e.previous_event_id)) this.dangling.set(e.previous_event_id, n);
    }
    this.seen.add(e.event_id);
    this.latestOfResource.set(e.resource_id, e.event_id);

    this.count++;
    this.prevSeq = e.seq;
    this.prevHash = e.hash;
  }

  /**
   * The text an event's hash covers: the RFC 8785 canonical JSON of the event without `hash`.
   *
   * Fast path, no re-serialization by the library: `canonicalize` is sorted member names (by
   * UTF-16 code units) plus JSON.stringify of every primitive. So when every object of the parsed
   * event already lists its members in that order, the line has no `\u` escape (the library
   * refuses lone surrogates, which JSON.stringify writes as `\u` escapes; other escapes merely
   * take the slow path) and JSON.stringify of the parsed event
   * reproduces the line exactly, the line IS the canonical form, and removing its top-level
   * `"hash"` member leaves the canonical form of the body. That member is the last occurrence of
   * its text: only fixed-format members follow it, and a JSON string cannot hold a bare `"`.
   * Anything else takes the library path (canonicalJson), which also settles whether the line is
   * canonical at all.
   */
  private hashInput(line: string, e: AuditEvent, n: number): string {
    if (!line.includes('\\u') && keysInCanonicalOrder(e) && JSON.stringify(e) === line) {
      const at = line.lastIndexOf(`,"hash":"${e.hash}"`);
      return line.slice(0, at) + line.slice(at + HASH_MEMBER_LENGTH);
    }
    const canonical = this.canonicalBody(e, n);
    // The canonical line is the body with the hash member put back before `prev_hash` (the last
    // occurrence of that text, for the same reason as above).
    const at = canonical.lastIndexOf(`,"prev_hash":"${e.prev_hash}"`);
    if (at < 0 || line !== `${canonical.slice(0, at)},"hash":"${e.hash}"${canonical.slice(at)}`) {
      throw new Failure('LINE_NOT_CANONICAL', n, `line ${n} is not in RFC 8785 canonical form (whitespace, member order, escaping or number format changed)`);
    }
    return canonical;
  }

  /** canonicalJson of the event without `hash`: one library serialization. */
  private canonicalBody(e: AuditEvent, n: number): string {
    const { hash: _hash, ...body } = e;
    try {
      return canonicalJson(body);
    } catch (err) {
      throw new Failure('EVENT_INVALID', n, `line ${n} has no canonical JSON form: ${(err as Error).message}`);
    }
  }

  finish(lines: number): void {
    const m = this.manifest;
    if (this.count !== m.event_count) {
      throw new Failure('EVENT_COUNT_MISMATCH', this.count < m.event_count ? lines + 1 : null, `the file has ${this.count} events but the manifest says ${m.event_count}${this.count < m.event_count ? ': lines are missing at the end (truncated)' : ''}`);
    }
    if (this.count > 0 && this.prevSeq !== m.last_seq) {
      throw new Failure('SEQ_GAP', lines, `the file ends at seq ${this.prevSeq} but the manifest says ${m.last_seq}`);
    }
    if (this.prevHash !== m.last_hash) {
      throw new Failure('LAST_HASH_MISMATCH', this.count > 0 ? lines : null, `the last event's hash does not match the manifest's last_hash`);
    }
  }

  private parseJson(line: string, n: number): AuditEvent {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Failure('LINE_NOT_JSON', n, `line ${n} is not valid JSON`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Failure('EVENT_INVALID', n, `line ${n} is not a JSON object`);
    const keys = Object.keys(value);
    if (keys.length !== FIELDS.length || !FIELDS.every((f) => f in value)) {
      const extra = keys.find((k) => !FIELDS.includes(k));
      const missing = FIELDS.find((f) => !(f in value));
      throw new Failure('EVENT_INVALID', n, `line ${n}: ${extra !== undefined ? `unexpected field ${extra}` : `missing field ${missing}`}`);
    }
    return this.checkShape(value as AuditEvent, n);
  }

  private parseCef(line: string, n: number): AuditEvent {
    const parsed = parseCefEvent(line);
    if ('error' in parsed) throw new Failure('EVENT_INVALID', n, `line ${n}: ${parsed.error}`);
    return this.checkShape(parsed.event, n);
  }

  private checkShape(e: AuditEvent, n: number): AuditEvent {
    const bad = (what: string) => new Failure('EVENT_INVALID', n, `line ${n}: ${what}`);
    if (!Number.isSafeInteger(e.seq) || e.seq < 1) throw bad('seq must be a positive integer');
    for (const f of ['event_id', 'tenant_id', 'timestamp', 'actor', 'resource_id'] as const) {
      if (typeof e[f] !== 'string') throw bad(`${f} must be a string`);
    }
    if (!isAuditEventType(e.event_type)) throw bad(`unknown event_type ${String(e.event_type)}`);
    if (!isAuditResourceType(e.resource_type)) throw bad(`unknown resource_type ${String(e.resource_type)}`);
    if (typeof e.details !== 'object' || e.details === null || Array.isArray(e.details)) throw bad('details must be an object');
    if (e.previous_event_id !== null && typeof e.previous_event_id !== 'string') throw bad('previous_event_id must be a string or null');
    if (typeof e.prev_hash !== 'string' || !HEX64.test(e.prev_hash)) throw bad('prev_hash must be 64 lowercase hex digits');
    if (typeof e.hash !== 'string' || !HEX64.test(e.hash)) throw bad('hash must be 64 lowercase hex digits');
    return e;
  }
}
