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

/** Hashes text to lowercase SHA-256 hex: synchronous with a native factory, WebCrypto otherwise. */
export type TextHasher = (text: string) => string | Promise<string>;

const encoder = new TextEncoder();

export function textHasher(sha256?: Sha256Factory): TextHasher {
  return sha256 ? syncTextHasher(sha256) : (text) => sha256Hex(text);
}

export function syncTextHasher(sha256: Sha256Factory): (text: string) => string {
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
