import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { detectFormat, SNIFF_BYTES, type DetectedFormat } from '../parse/detect-format';
import { nodeSha256 } from './sha256';

/** What the manifest needs to know about one local file, learned in a single read. */
export interface FileDigest {
  path: string;
  /** The name sent in the multipart part and written to the manifest (no directories). */
  filename: string;
  size: number;
  sha256: string;
  /** Decided from the bytes the way intake decides it; null when Frostbyte would not parse the file. */
  detected: DetectedFormat | null;
}

/** Read size for hashing (bytes). Big enough that the hash, not the syscalls, is the cost. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * SHA-256, size and format of a file in one streaming pass: memory stays at one read chunk plus
 * the first SNIFF_BYTES (kept for detectFormat, exactly the prefix intake sniffs), whatever the size.
 */
export async function digestFile(path: string, onBytes?: (n: number) => void): Promise<FileDigest> {
  const hasher = nodeSha256();
  const head = new Uint8Array(SNIFF_BYTES);
  let headLen = 0;
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    hasher.update(chunk);
    if (headLen < SNIFF_BYTES) {
      const take = Math.min(SNIFF_BYTES - headLen, chunk.length);
      head.set(chunk.subarray(0, take), headLen);
      headLen += take;
    }
    size += chunk.length;
    onBytes?.(chunk.length);
  }
  return { path, filename: basename(path), size, sha256: hasher.digestHex(), detected: await detectFormat(head.subarray(0, headLen)) };
}

/** Sizes of files without reading them (for progress totals and upload lengths). */
export async function sizeOf(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isFile()) throw new Error(`${path} is not a regular file`);
  return s.size;
}
