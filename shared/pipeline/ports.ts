import type { ParsedDocument } from '../parse/types';

/**
 * The production parser behind a port: a worker-thread pool in the Node process (CPU-heavy work
 * never blocks the HTTP event loop), the same code in its own invocation on Lambda.
 */
export interface DocumentParser {
  /** Parser code version: part of the parse step's idempotency key and of the parsed object key. */
  readonly version: string;
  /** Throws ParseError (permanent, with a reason code) or anything else (retryable). */
  parse(bytes: Uint8Array, meta: { docId: string; sha256: string; mime: string }): Promise<ParsedDocument>;
  /**
   * The same, with the document's canonical JSON (RFC 8785) and its SHA-256 made where the parse
   * ran (the worker pool), so the event loop does not serialise it again. Optional.
   */
  parseCanonical?(bytes: Uint8Array, meta: { docId: string; sha256: string; mime: string }): Promise<{ document: ParsedDocument; canonical: CanonicalDocument }>;
}

/** A parsed document as the parse step stores it: canonical JSON and the SHA-256 hex of its UTF-8. */
export interface CanonicalDocument {
  json: string;
  sha256: string;
}
