import type { JSONWebKeySet } from 'jose';
import type { Sha256Factory } from '../hash';
import { Failure, LineChecker, type ExportProblem } from './export-lines';
import { verifyManifest, type SignedAuditManifest } from './manifest';

export type { ExportProblem } from './export-lines';

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
    /**
     * Checks the lines that end in `text`, the first one starting with `head` (the unfinished
     * line of the chunk before); returns the unfinished rest. Lines are cut from `text` itself:
     * searching `head + text` would make V8 copy the whole chunk for every line.
     */
    const consume = (head: string, text: string) => {
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        checker.check(start === 0 && head.length > 0 ? head + text.slice(0, nl) : text.slice(start, nl), ++lineNo);
        start = nl + 1;
      }
      return start === 0 ? head + text : text.slice(start);
    };
    if (typeof file === 'string') {
      fileDigest.update(new TextEncoder().encode(file));
      carry = consume('', file);
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
        carry = consume(carry, text);
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

async function* single(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** The one-line summary of an export that verified. */
export function summarize(m: SignedAuditManifest): string {
  const scope = m.resource_id !== undefined ? `resource ${m.resource_id} of tenant ${m.tenant_id}` : `tenant ${m.tenant_id}`;
  const seqs = m.event_count === 0 ? 'no events' : `${m.event_count} event${m.event_count === 1 ? '' : 's'}, seq ${m.first_seq}–${m.last_seq}`;
  return `OK: ${seqs} of ${scope} (${m.from ?? 'start'} → ${m.to ?? 'end'}, ${m.format}); hashes, log chain and provenance intact; file sha256 ${m.file_sha256}; signed by ${m.kid} (${m.alg})`;
}
