import canonicalize from 'canonicalize';
import { sha256Hex, type Sha256Factory } from '../hash';
import type { AuditEvent } from './types';

/** The fields an event's hash covers: everything but `hash`. */
export type AuditEventBody = Omit<AuditEvent, 'hash'>;

/** RFC 8785 canonical JSON (the `canonicalize` library). Throws on NaN, Infinity, lone surrogates, cycles. */
export function canonicalJson(value: unknown): string {
  const out = canonicalize(value);
  if (out === undefined) throw new Error('value has no JSON representation');
  return out;
}

const INDEX_KEY = /^(?:0|[1-9]\d*)$/;
/** A JSON.stringify escape of a lone surrogate: the library refuses those, so we must too. */
const ESCAPED_SURROGATE = /\\ud[89a-f]/i;

/**
 * Sorts object members by UTF-16 code units, recursively, for JSON.stringify. Undefined when a
 * member name is an array index ("0", "12"): JavaScript enumerates those first whatever the
 * insertion order, so only the library can order them.
 */
function sortMembers(value: unknown): unknown {
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) {
      const sorted = sortMembers(v);
      if (sorted === undefined && v !== undefined) return undefined;
      out.push(sorted);
    }
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      // A digit first is rare in member names: only then is the pattern tried.
      const c = k.charCodeAt(0);
      if (c >= 0x30 && c <= 0x39 && INDEX_KEY.test(k)) return undefined;
      const v = (value as Record<string, unknown>)[k];
      const sorted = sortMembers(v);
      if (sorted === undefined && v !== undefined) return undefined;
      out[k] = sorted;
    }
    return out;
  }
  return value;
}

/**
 * canonicalJson of a whole audit event (an export line), about 3× faster than the library: RFC
 * 8785 is members sorted by UTF-16 code units plus ECMAScript's JSON.stringify of primitives, so
 * JSON.stringify of the event with its members already in that order gives the same text. Anything
 * that rule cannot cover (index-like member names, lone surrogates) goes to the library, and the
 * equivalence is tested against the library on varied events.
 */
export function canonicalEventJson(e: AuditEvent): string {
  const details = sortMembers(e.details);
  if (details !== undefined) {
    const out = JSON.stringify({
      actor: e.actor, details, event_id: e.event_id, event_type: e.event_type, hash: e.hash, prev_hash: e.prev_hash,
      previous_event_id: e.previous_event_id, resource_id: e.resource_id, resource_type: e.resource_type, seq: e.seq,
      tenant_id: e.tenant_id, timestamp: e.timestamp,
    });
    if (!out.includes('\\u') || !ESCAPED_SURROGATE.test(out)) return out;
  }
  return canonicalJson(e);
}

/** Hashes text to lowercase SHA-256 hex: synchronous with a native factory, WebCrypto otherwise. */
export type TextHasher = (text: string) => string | Promise<string>;

const encoder = new TextEncoder();

export function textHasher(sha256?: Sha256Factory): TextHasher {
  return sha256 ? syncTextHasher(sha256) : (text) => sha256Hex(text);
}

export function syncTextHasher(sha256: Sha256Factory): (text: string) => string {
  if (sha256.textHex) return sha256.textHex;
  // One scratch buffer per hasher: hashing a million short lines must not allocate a million
  // arrays. Safe because Sha256.update consumes its chunk before it returns.
  let scratch = new Uint8Array(4096);
  return (text) => {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    if (text.length * 3 > scratch.length) scratch = new Uint8Array(text.length * 3);
    const { written } = encoder.encodeInto(text, scratch);
    const h = sha256();
    h.update(scratch.subarray(0, written));
    return h.digestHex();
  };
}

/** The hashed body of an event, with exactly the chain's eleven fields (extra properties are dropped). */
export function eventBody(e: AuditEventBody): AuditEventBody {
  return {
    event_id: e.event_id,
    tenant_id: e.tenant_id,
    seq: e.seq,
    event_type: e.event_type,
    timestamp: e.timestamp,
    actor: e.actor,
    resource_type: e.resource_type,
    resource_id: e.resource_id,
    details: e.details,
    previous_event_id: e.previous_event_id,
    prev_hash: e.prev_hash,
  };
}

/** `hash` of an event: SHA-256 hex over the canonical JSON of its body (DESIGN §6). */
export function hashEventBody(body: AuditEventBody, hash: TextHasher): string | Promise<string> {
  return hash(canonicalJson(eventBody(body)));
}

/**
 * Normalizes a time to the one form events carry: `YYYY-MM-DDTHH:mm:ss.sssZ`. Fixed width, so
 * stored timestamps compare correctly as text. Returns null when `value` is not an ISO-8601 time
 * with a zone (a date alone, `YYYY-MM-DD`, is taken as midnight UTC).
 */
export function normalizeTimestamp(value: string | Date): string | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (!/^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/.test(value)) return null;
  const d = new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Compares two content hashes, tolerating a `sha256:` prefix and upper-case hex. */
export function sameContentHash(a: string, b: string): boolean {
  const norm = (s: string) => (s.startsWith('sha256:') ? s.slice(7) : s).toLowerCase();
  return norm(a) === norm(b);
}
