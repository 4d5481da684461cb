import { describe, expect, it } from 'vitest';
import { readCanonicalLine } from './export-lines';
import { canonicalEventJson, canonicalJson } from './hashing';
import type { AuditEvent } from './types';

/** Deterministic PRNG so a failure reproduces. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['a', 'Z', 'é', 'ß', '€', '😀', '"', '\\', '\n', '\t', '\u0001', '\u007f', '\u2028', '</script>', ' ', '_', '-', 'ä', '中', 'key'];
const NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 123456789012, 2 ** 53 - 1, -3.5, 5e-324, 1.7976931348623157e308];

function value(rnd: () => number, depth: number): unknown {
  const r = rnd();
  const str = () => Array.from({ length: Math.floor(rnd() * 6) }, () => PIECES[Math.floor(rnd() * PIECES.length)]).join('');
  if (depth > 2 || r < 0.35) return str();
  if (r < 0.5) return NUMBERS[Math.floor(rnd() * NUMBERS.length)];
  if (r < 0.58) return rnd() < 0.5;
  if (r < 0.63) return null;
  if (r < 0.8) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(rnd, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(rnd() * 5); i++) o[rnd() < 0.1 ? String(Math.floor(rnd() * 20)) : str() || 'k'] = value(rnd, depth + 1);
  return o;
}

function event(rnd: () => number, details: Record<string, unknown>): AuditEvent {
  return {
    event_id: `evt_${Math.floor(rnd() * 1e9)}`, tenant_id: 'acme-corp', seq: Math.floor(rnd() * 1e7) + 1, event_type: 'DOCUMENT_PARSED',
    timestamp: '2026-11-27T10:00:00.000Z', actor: rnd() < 0.5 ? 'system' : 'dana@acme.example', resource_type: 'document',
    resource_id: `doc_${Math.floor(rnd() * 1e9)}`, details, previous_event_id: rnd() < 0.3 ? null : `evt_${Math.floor(rnd() * 1e9)}`,
    prev_hash: 'a'.repeat(64), hash: 'b'.repeat(64),
  };
}

describe('canonicalEventJson (the export fast path)', () => {
  it('gives exactly the library\'s RFC 8785 text for 5,000 varied events', () => {
    const rnd = random(20261127);
    for (let i = 0; i < 5000; i++) {
      const details = value(rnd, 0);
      const e = event(rnd, details !== null && typeof details === 'object' && !Array.isArray(details) ? (details as Record<string, unknown>) : { v: details });
      expect(canonicalEventJson(e)).toBe(canonicalJson(e));
    }
  });

  it('orders index-like member names as the library does, and refuses lone surrogates like it', () => {
    const rnd = random(7);
    const e = event(rnd, { '10': 'x', '9': 'y', b: { '2': 1, '1': [{ '0': true }] }, a: 1 });
    expect(canonicalEventJson(e)).toBe(canonicalJson(e));
    const bad = event(rnd, { note: 'half \ud83d pair' });
    expect(() => canonicalJson(bad)).toThrow();
    expect(() => canonicalEventJson(bad)).toThrow();
  });
});

describe('readCanonicalLine (the verify fast path)', () => {
  /** An export line: the canonical JSON of the event, as the exporter writes it. */
  const bodyOf = (e: AuditEvent) => {
    const { hash: _hash, ...body } = e;
    return canonicalJson(body);
  };

  it('reads a canonical line into its chain fields and the canonical text its hash covers, or leaves it to the full check', () => {
    const rnd = random(5150);
    let quick = 0;
    for (let i = 0; i < 5000; i++) {
      // Half flat details like the pipeline's, half anything.
      const any = value(rnd, 0);
      const details = i % 2 === 0
        ? { component: 'parse-worker', duration_ms: Math.floor(rnd() * 5000), input_hash: 'c'.repeat(64), n: NUMBERS[i % NUMBERS.length], note: typeof any === 'string' ? any : 'n', ok: rnd() < 0.5, status: null }
        : any !== null && typeof any === 'object' && !Array.isArray(any) ? (any as Record<string, unknown>) : { v: any };
      const e = event(rnd, details);
      const read = readCanonicalLine(canonicalJson(e));
      if (read === null) continue;
      quick++;
      expect(read.body).toBe(bodyOf(e));
      expect(read.event).toEqual({ event_id: e.event_id, tenant_id: e.tenant_id, seq: e.seq, resource_id: e.resource_id, previous_event_id: e.previous_event_id, prev_hash: e.prev_hash, hash: e.hash });
    }
    // The usual line takes the fast path (flat details of plain strings and small integers).
    expect(quick).toBeGreaterThan(2000);
  });

  it('never vouches for a line that is not in canonical form (or not an event)', () => {
    const rnd = random(99);
    // Flat details (read member by member) and nested ones (parsed and written back).
    const flat = canonicalJson(event(rnd, { '10': true, '9': null, a: 'x', b: 2 }));
    const nested = canonicalJson(event(rnd, { a: 'x', b: 2, c: { d: [1, 'y'] } }));
    expect(readCanonicalLine(flat)).not.toBeNull();
    expect(readCanonicalLine(nested)).not.toBeNull();
    const variants = [flat, nested].flatMap((line) => [
      line.replace('"details":{', '"details":{ '),
      line.replace('"a":"x","b":2', '"b":2,"a":"x"'),
      line.replace('"a":"x"', '"a":"\\u0078"'),
      line.replace('"b":2', '"b":2.0'),
      line.replace('"b":2', '"b":2e0'),
      line.replace('"b":2', '"b":-0'),
      line.replace('"b":2', '"b":02'),
      line.replace('"a":"x"', '"a":"x","a":"x"'),
      line.replace('"a":"x"', '"a":"x","a":"z"'),
      line.replace('"seq":', '"seq": '),
      line.replace(/"seq":\d+/, '"seq":1.0'),
      line.replace(/"seq":\d+/, '"seq":9007199254740993'),
      line.replace('"actor":"', '"actor":"\\/'),
      line.replace('"resource_type":"document"', '"resource_type":"Document"'),
      `${line} `,
      line.replace(/\}$/, ',"extra":1}'),
    ]);
    variants.push(
      flat.replace('"10":true,"9":null', '"9":null,"10":true'),
      nested.replace('[1,"y"]', '[1, "y"]'),
      nested.replace('{"d":[1,"y"]}', '{"d":[1,"y"],"d":[1,"y"]}'),
    );
    for (const v of variants) {
      expect(v === flat || v === nested).toBe(false);
      expect(readCanonicalLine(v), v).toBeNull();
    }
  });
});
