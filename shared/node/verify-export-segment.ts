import { isAscii, isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import { exportSegmentChecker, type SegmentSummary } from '../audit/export-lines';
import type { SignedAuditManifest } from '../audit/manifest';
import { nodeSha256 } from './sha256';

/** Read size (bytes): big enough that the per-line work, not the syscalls, is the cost. */
export const READ_CHUNK_BYTES = 1024 * 1024;
/**
 * Lines are decoded about this many bytes at a time: V8 puts a longer string in its large-object
 * space, in fresh memory every time, which made decoding cost as much as hashing.
 */
const DECODE_BYTES = 64 * 1024;

/** What a worker thread checks: one stretch of whole lines, [start, end) in bytes. */
export interface SegmentTask {
  path: string;
  start: number;
  end: number;
  /** Verified by the thread that starts the worker. */
  manifest: SignedAuditManifest;
}

/**
 * Checks the lines of one stretch, in a worker thread (verify-export-worker.mjs) or on the thread
 * that runs verifyExportFile. Null at the first problem of any kind: verifyExportFile then finds
 * and names it with a single pass.
 */
export async function checkFileSegment(task: SegmentTask): Promise<SegmentSummary | null> {
  const checker = exportSegmentChecker(task.manifest, nodeSha256);
  const file = await open(task.path);
  // Whole lines are checked as they arrive; the unfinished one moves to the front of the buffer.
  let buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let filled = 0;
  let pos = task.start;
  let n = 0;
  try {
    while (pos < task.end) {
      if (filled === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(buf.length)]);
      const { bytesRead } = await file.read(buf, filled, Math.min(buf.length - filled, task.end - pos), pos);
      if (bytesRead === 0) return null;
      pos += bytesRead;
      filled += bytesRead;
      const cut = buf.lastIndexOf(10, filled - 1) + 1;
      for (let from = 0; from < cut; ) {
        let to = from + DECODE_BYTES >= cut ? cut : buf.lastIndexOf(10, from + DECODE_BYTES - 1) + 1;
        if (to <= from) to = buf.indexOf(10, from) + 1; // one line longer than DECODE_BYTES
        const text = decodeUtf8(buf.subarray(from, to));
        if (text === null) return null;
        let start = 0;
        for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
          checker.check(text.slice(start, nl), ++n);
          start = nl + 1;
        }
        from = to;
      }
      buf.copyWithin(0, cut, filled);
      filled -= cut;
    }
  } catch {
    return null;
  } finally {
    await file.close();
  }
  // Bytes after the last line end: the line was cut short.
  return filled > 0 ? null : checker.summary();
}

/**
 * Whole lines of UTF-8 as text; null when the bytes are not UTF-8. Plain ASCII, the usual export,
 * takes Node's byte-for-char copy, several times faster than a validating decoder.
 */
function decodeUtf8(bytes: Buffer): string | null {
  if (isAscii(bytes)) return bytes.toString('latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : null;
}
