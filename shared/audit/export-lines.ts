/**
 * The checks of an export file's lines (verify-export.ts): what each line must be, the log chain
 * from line to line and the provenance chain inside the file — for one pass over the whole file
 * (verifyExport) or for stretches of it checked in parallel and joined (verify-export-file.ts in
 * shared/node). Kept apart from the manifest's signature check so a worker thread loads only this.
 */
import type { Sha256Factory } from '../hash';
import { parseCefEvent } from './cef';
import { canonicalJson, syncTextHasher } from './hashing';
import type { SignedAuditManifest } from './manifest';
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

const FIELDS = ['actor', 'details', 'event_id', 'event_type', 'hash', 'prev_hash', 'previous_event_id', 'resource_id', 'resource_type', 'seq', 'tenant_id', 'timestamp'];
const HEX64 = /^[0-9a-f]{64}$/;
/** `,"hash":"<64 hex>"`: how much longer a canonical line is than the canonical JSON of its body. */
const HASH_MEMBER_LENGTH = 74;

/** The first problem found; thrown by the checks and returned as a value by verifyExport. */
export class Failure extends Error {
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
 * A canonical export line as most are: the twelve members in order, every top-level string free
 * of characters JSON escapes (`"`, `\`, controls, surrogates) so that it reads back unchanged.
 * Groups: 1 the text before `,"hash"`, 2 actor, 3 details, 4 event_id, 5 event_type, 6 hash,
 * 7 the text after the hash member, 8 prev_hash, 9 previous_event_id (absent for null),
 * 10 resource_id, 11 resource_type, 12 seq, 13 tenant_id, 14 timestamp.
 */
const CANONICAL_LINE =
  /^(\{"actor":"([^"\\\x00-\x1f\ud800-\udfff]*)","details":(\{[^]*?\}),"event_id":"([^"\\\x00-\x1f\ud800-\udfff]*)","event_type":"([A-Z_]+)"),"hash":"([0-9a-f]{64})"(,"prev_hash":"([0-9a-f]{64})","previous_event_id":(?:null|"([^"\\\x00-\x1f\ud800-\udfff]*)"),"resource_id":"([^"\\\x00-\x1f\ud800-\udfff]*)","resource_type":"([a-z]+)","seq":([1-9]\d{0,15}),"tenant_id":"([^"\\\x00-\x1f\ud800-\udfff]*)","timestamp":"([^"\\\x00-\x1f\ud800-\udfff]*)"\})$/;

/** What the log and provenance chains read of an event. */
type ChainFields = Pick<AuditEvent, 'event_id' | 'tenant_id' | 'seq' | 'resource_id' | 'previous_event_id' | 'prev_hash' | 'hash'>;

/**
 * Reads a JSON Lines export line without a general JSON parse, when it matches CANONICAL_LINE and
 * its details are canonical; null sends the line to the full check (LineChecker.hashInput), which
 * also names whatever is wrong with it. Exported for its tests.
 *
 * Why a match is exactly the canonical form: the regex fixes the members, their order and every
 * character of the top-level values, and JSON.stringify writes those strings and a safe integer
 * back unchanged. Details is the one free-form value: a JSON object that starts right after
 * `"details":` ends at its own closing brace, so when the matched text is a JSON object the whole
 * line parses into exactly these members — and when that text is the object's canonical form
 * (isCanonicalObject), so is the line. Removing the hash member (groups 1 and 7 joined) leaves
 * the canonical JSON of the event without `hash`.
 */
export function readCanonicalLine(line: string): { event: ChainFields; body: string } | null {
  const m = CANONICAL_LINE.exec(line);
  if (m === null) return null;
  const seq = Number(m[12]);
  if (!Number.isSafeInteger(seq) || !isAuditEventType(m[5]) || !isAuditResourceType(m[11]) || !isCanonicalObject(m[3])) return null;
  const event: ChainFields = { event_id: m[4], tenant_id: m[13], seq, resource_id: m[10], previous_event_id: m[9] ?? null, prev_hash: m[8], hash: m[6] };
  return { event, body: m[1] + m[7] };
}

/**
 * One member of a flat object as RFC 8785 writes it, then `,` or `}`: a name and a value that
 * JSON.stringify writes back unchanged — a string without escapes, an integer of at most 15
 * digits (not -0), true, false or null. Groups: 1 the name, 2 what follows the value.
 */
const FLAT_MEMBER = /"([^"\\\x00-\x1f\ud800-\udfff]*)":(?:"[^"\\\x00-\x1f\ud800-\udfff]*"|-?[1-9]\d{0,14}|0|true|false|null)([,}])/y;

/**
 * True when `text`, the JSON text of an object, is its RFC 8785 canonical form. A flat object (the
 * usual details) is read member by member: canonical when every member is FLAT_MEMBER and the
 * names strictly increase by UTF-16 code units. Anything else — nesting, escapes, fractions — is
 * parsed and written back. False may also mean "not a JSON object at all".
 */
function isCanonicalObject(text: string): boolean {
  if (text === '{}') return true;
  let at = 1;
  let name: string | null = null;
  for (;;) {
    FLAT_MEMBER.lastIndex = at;
    const member = FLAT_MEMBER.exec(text);
    if (member === null) break;
    if (name !== null && !(name < member[1])) return false;
    name = member[1];
    at = FLAT_MEMBER.lastIndex;
    if (member[2] === '}') return at === text.length;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return false;
  }
  return keysInCanonicalOrder(value) && JSON.stringify(value) === text;
}

/**
 * A copy of `s` that does not share memory with the line it was cut from: V8 keeps a whole string
 * alive while any slice of it is, and the verifier stores event and resource ids for the whole file.
 */
function detach(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
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

/** The log chain from one line to the next; `prevSeq` null: `e` is the file's first event. */
function checkLink(m: SignedAuditManifest, prevSeq: number | null, prevHash: string | null, e: { seq: number; prev_hash: string }, n: number): void {
  if (prevSeq === null) {
    if (e.seq !== m.first_seq) throw new Failure('FIRST_SEQ_MISMATCH', n, `line ${n} has seq ${e.seq} but the manifest says the file starts at seq ${m.first_seq}: lines were removed or inserted at the start`);
    if (e.prev_hash !== m.first_prev_hash) throw new Failure('FIRST_PREV_HASH_MISMATCH', n, `line ${n}: prev_hash does not match the manifest's first_prev_hash`);
  } else if (e.seq <= prevSeq) {
    throw new Failure('SEQ_ORDER', n, `line ${n} has seq ${e.seq} after seq ${prevSeq}: lines were reordered or duplicated`);
  } else if (m.resource_id === undefined && e.seq !== prevSeq + 1) {
    throw new Failure('SEQ_GAP', n, `line ${n} has seq ${e.seq} where seq ${prevSeq + 1} belongs: an event was removed here or lines were reordered`);
  } else if (e.seq === prevSeq + 1 && e.prev_hash !== prevHash) {
    throw new Failure('CHAIN_BROKEN', n, `line ${n} (seq ${e.seq}): prev_hash is not the hash of the line before it — an event was inserted, replaced or re-hashed`);
  }
}

/** What checking one stretch of an export file found, for joinSegments. */
export interface SegmentSummary {
  events: number;
  /** The stretch's first and last events (null when it has none). */
  first: { seq: number; prev_hash: string } | null;
  last: { seq: number; hash: string } | null;
  /**
   * The stretch's resources (parallel arrays, which cross threads far faster than a Map): each
   * resource_id, the previous_event_id of its first event in the stretch, its latest event_id there.
   */
  resources: { resource_id: string[]; first: (string | null)[]; latest: string[] };
  /** fingerprint() of every event_id in the stretch. */
  ids: Float64Array;
}

/**
 * Checks one stretch of an export's lines (a parallel verifier gives each thread one): every check
 * of verifyExport that needs no line outside the stretch. `check` throws at the first problem;
 * afterwards `summary()` is what joinSegments needs. The manifest must have been verified.
 */
export function exportSegmentChecker(manifest: SignedAuditManifest, sha256: Sha256Factory): { check(line: string, n: number): void; summary(): SegmentSummary } {
  return new LineChecker(manifest, sha256, true);
}

/**
 * True when the file whose consecutive stretches gave `segments` (every one checked without a
 * problem) passes verifyExport's line checks: the log chain across the stretches' edges and against
 * the manifest, the event count, provenance links that cross an edge, and event_ids unique in the
 * whole file. It compares id fingerprints, so it may answer false for a file that is intact (a
 * fingerprint collision, about 1 in 10^4 for a million events); a parallel verifier then runs
 * verifyExport, which also names the problem when there is one. It never answers true for a file
 * verifyExport rejects, the file SHA-256 aside.
 */
export function joinSegments(manifest: SignedAuditManifest, segments: SegmentSummary[]): boolean {
  let events = 0;
  let last: SegmentSummary['last'] = null;
  try {
    for (const seg of segments) {
      if (seg.first === null) continue;
      checkLink(manifest, last === null ? null : last.seq, last === null ? null : last.hash, seg.first, 0);
      events += seg.events;
      last = seg.last;
    }
  } catch (err) {
    if (err instanceof Failure) return false;
    throw err;
  }
  if (events !== manifest.event_count || (last?.seq ?? null) !== manifest.last_seq || (last?.hash ?? null) !== manifest.last_hash) return false;

  // A resource's first event in a stretch links to its latest event in the stretches before, or,
  // when it has none, names no event in the file (as previous_event_id: earlier would be another
  // resource's, later would point forwards).
  const latest = new Map<string, string>();
  const mustBeAbsent: string[] = [];
  for (const { resources: r } of segments) {
    for (let i = 0; i < r.resource_id.length; i++) {
      const before = latest.get(r.resource_id[i]);
      const first = r.first[i];
      if (before !== undefined) {
        if (first !== before) return false;
      } else if (first !== null) mustBeAbsent.push(first);
      latest.set(r.resource_id[i], r.latest[i]);
    }
  }
  const ids = new Float64Array(segments.reduce((n, seg) => n + seg.ids.length, 0));
  let at = 0;
  for (const seg of segments) {
    ids.set(seg.ids, at);
    at += seg.ids.length;
  }
  ids.sort();
  for (let i = 1; i < ids.length; i++) if (ids[i] === ids[i - 1]) return false;
  return mustBeAbsent.every((id) => !sortedIncludes(ids, fingerprint(id)));
}

/**
 * A 52-bit fingerprint of a string (two 32-bit FNV-1a variants), exact as a JavaScript number.
 * Equal strings have equal fingerprints; distinct ones rarely do, and joinSegments only ever
 * concludes "maybe equal" from equal fingerprints.
 */
function fingerprint(s: string): number {
  let a = 0x811c9dc5;
  let b = 0x2f6b9a13;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (a >>> 0) * 0x100000 + (b >>> 12);
}

function sortedIncludes(sorted: Float64Array, value: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] === value) return true;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** The per-line state machine: everything verifyExport checks about events, in file order. */
export class LineChecker {
  private readonly hash: (text: string) => string;
  private count = 0;
  private prevSeq = 0;
  private prevHash: string | null = null;
  private readonly byRange: boolean;
  /** Whole file: resource_id → event_id of its latest event so far in the file. */
  private readonly latestOfResource = new Map<string, string>();
  private readonly seen = new Set<string>();
  /** previous_event_ids that point at no earlier line: they must not turn up later in the file. */
  private readonly dangling = new Map<string, number>();
  /** Segment mode (exportSegmentChecker) only: what joinSegments needs, gathered line by line. */
  private readonly segment: { first: SegmentSummary['first']; resources: Map<string, { first: string | null; latest: string }>; ids: number[] } | null;

  constructor(
    private readonly manifest: SignedAuditManifest,
    sha256: Sha256Factory,
    segment = false,
  ) {
    this.hash = syncTextHasher(sha256);
    this.byRange = manifest.resource_id === undefined;
    this.segment = segment ? { first: null, resources: new Map(), ids: [] } : null;
  }

  check(line: string, n: number): void {
    const m = this.manifest;
    if (line.length === 0) throw new Failure('LINE_EMPTY', n, `line ${n} is empty`);
    let e: ChainFields;
    let hashed: string;
    const quick = m.format === 'jsonl' ? readCanonicalLine(line) : null;
    if (quick !== null) ({ event: e, body: hashed } = quick);
    else {
      const full = m.format === 'jsonl' ? this.parseJson(line, n) : this.parseCef(line, n);
      hashed = m.format === 'jsonl' ? this.hashInput(line, full, n) : this.canonicalBody(full, n);
      e = full;
    }

    const claimed = e.hash;
    const computed = this.hash(hashed);
    if (computed !== claimed) {
      throw new Failure('HASH_MISMATCH', n, `line ${n} (seq ${e.seq}, ${e.event_id}): the event does not match its hash — a field was edited (hash ${claimed}, recomputed ${computed})`);
    }
    if (e.tenant_id !== m.tenant_id) throw new Failure('TENANT_MISMATCH', n, `line ${n} belongs to tenant ${e.tenant_id}, the manifest to ${m.tenant_id}`);
    if (!this.byRange && e.resource_id !== m.resource_id) {
      throw new Failure('RESOURCE_MISMATCH', n, `line ${n} is an event of ${e.resource_id}, the export is of ${m.resource_id}`);
    }

    // Log chain. A segment's first line links to lines another checker saw: joinSegments checks it.
    if (this.segment !== null && this.count === 0) this.segment.first = { seq: e.seq, prev_hash: e.prev_hash };
    else checkLink(m, this.count === 0 ? null : this.prevSeq, this.prevHash, e, n);
    if (m.last_seq === null || e.seq > m.last_seq) {
      throw new Failure('SEQ_BEYOND_MANIFEST', n, `line ${n} has seq ${e.seq}, past the manifest's last_seq ${m.last_seq ?? '(none)'}: extra lines were added`);
    }

    if (this.segment !== null) this.trackProvenance(e, n);
    else this.checkProvenance(e, n);
    this.count++;
    this.prevSeq = e.seq;
    this.prevHash = e.hash;
  }

  /** Provenance chain inside the file. */
  private checkProvenance(e: ChainFields, n: number): void {
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
      if (!this.dangling.has(e.previous_event_id)) this.dangling.set(detach(e.previous_event_id), n);
    }
    const id = detach(e.event_id);
    this.seen.add(id);
    this.latestOfResource.set(latest === undefined ? detach(e.resource_id) : e.resource_id, id);
  }

  /**
   * Segment mode: links inside the stretch are checked here; a resource's first event in it is
   * recorded for joinSegments, and so is every event_id's fingerprint (a whole-file id set would
   * have to cross threads).
   */
  private trackProvenance(e: ChainFields, n: number): void {
    const seg = this.segment as NonNullable<LineChecker['segment']>;
    const id = detach(e.event_id);
    const r = seg.resources.get(e.resource_id);
    if (r === undefined) {
      seg.resources.set(detach(e.resource_id), { first: e.previous_event_id === null ? null : detach(e.previous_event_id), latest: id });
    } else {
      if (e.previous_event_id !== r.latest) {
        throw new Failure('PROVENANCE_BROKEN', n, `line ${n} (${e.event_id}): previous_event_id is ${e.previous_event_id ?? 'null'} but the latest earlier event of ${e.resource_id} is ${r.latest}`);
      }
      r.latest = id;
    }
    seg.ids.push(fingerprint(id));
  }

  /** Segment mode: what joinSegments needs from this stretch. */
  summary(): SegmentSummary {
    const seg = this.segment as NonNullable<LineChecker['segment']>;
    return {
      events: this.count,
      first: seg.first,
      last: this.count === 0 ? null : { seq: this.prevSeq, hash: this.prevHash as string },
      resources: { resource_id: [...seg.resources.keys()], first: [...seg.resources.values()].map((r) => r.first), latest: [...seg.resources.values()].map((r) => r.latest) },
      ids: Float64Array.from(seg.ids),
    };
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
