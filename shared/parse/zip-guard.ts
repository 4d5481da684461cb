import { Inflate, inflateSync } from 'fflate';
import type { ParseLimits } from './limits';
import { ParseError } from './types';

/**
 * Zip-bomb defence for DOCX/XLSX/PPTX. The central directory is read and every declared size
 * checked against the limits before anything is inflated; then each entry is inflated once as a
 * stream, stopping as soon as it produces more than it declared, so a directory that lies about
 * sizes is caught too before mammoth or exceljs inflate the whole archive in memory.
 */
export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
/** Entries larger than this are ratio-checked; tiny entries compress absurdly well and harmlessly. */
const RATIO_CHECK_MIN_BYTES = 1024 * 1024;
/** Compressed bytes pushed per inflate step: at deflate's ~1032:1 maximum that is ≤ 16 MiB out. */
const INFLATE_STEP_BYTES = 16 * 1024;

function corrupted(): ParseError {
  return new ParseError('FILE_CORRUPTED', 'The file is damaged: its zip structure could not be read.');
}

export function readZipDirectory(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end record is 22 bytes plus a comment of up to 65,535 bytes.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65_535); i--) {
    if (view.getUint32(i, true) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupted();
  let count = view.getUint16(eocd + 10, true);
  let directorySize = view.getUint32(eocd + 12, true);
  let directoryOffset = view.getUint32(eocd + 16, true);
  if ((count === 0xffff || directoryOffset === 0xffffffff) && eocd >= 20 && view.getUint32(eocd - 20, true) === ZIP64_LOCATOR_SIGNATURE) {
    const zip64Offset = Number(view.getBigUint64(eocd - 12, true));
    if (zip64Offset + 56 > bytes.length || view.getUint32(zip64Offset, true) !== ZIP64_EOCD_SIGNATURE) throw corrupted();
    count = Number(view.getBigUint64(zip64Offset + 32, true));
    directorySize = Number(view.getBigUint64(zip64Offset + 40, true));
    directoryOffset = Number(view.getBigUint64(zip64Offset + 48, true));
  }
  if (directoryOffset + directorySize > bytes.length) throw corrupted();
  const entries: ZipEntry[] = [];
  const decoder = new TextDecoder();
  let p = directoryOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== CENTRAL_SIGNATURE) throw corrupted();
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let uncompressedSize = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    if (p + 46 + nameLength + extraLength > bytes.length) throw corrupted();
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLength));
    if (uncompressedSize === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
      // ZIP64 extended information: the 8-byte values present are in this order.
      let q = p + 46 + nameLength;
      const extraEnd = q + extraLength;
      while (q + 4 <= extraEnd) {
        const id = view.getUint16(q, true);
        const size = view.getUint16(q + 2, true);
        if (id === 0x0001) {
          let r = q + 4;
          if (uncompressedSize === 0xffffffff) { uncompressedSize = Number(view.getBigUint64(r, true)); r += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = Number(view.getBigUint64(r, true)); r += 8; }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = Number(view.getBigUint64(r, true));
          break;
        }
        q += 4 + size;
      }
    }
    entries.push({ name, method, flags, compressedSize, uncompressedSize, localHeaderOffset });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Checks the declared sizes; nothing has been inflated yet. */
export function assertZipWithinLimits(entries: readonly ZipEntry[], limits: ParseLimits): void {
  if (entries.length > limits.maxZipEntries) {
    throw new ParseError('RESOURCE_LIMIT', `The archive holds more than ${limits.maxZipEntries} entries.`);
  }
  let total = 0;
  let xml = 0;
  for (const entry of entries) {
    total += entry.uncompressedSize;
    if (/\.(?:xml|rels)$/i.test(entry.name)) xml += entry.uncompressedSize;
    if (entry.uncompressedSize > RATIO_CHECK_MIN_BYTES && entry.uncompressedSize > Math.max(entry.compressedSize, 1) * limits.maxZipRatio) {
      throw new ParseError('RESOURCE_LIMIT', `The archive expands more than ${limits.maxZipRatio} times its size (a zip bomb).`);
    }
  }
  if (total > limits.maxZipUncompressedBytes) {
    throw new ParseError('RESOURCE_LIMIT', `The archive expands to more than ${Math.round(limits.maxZipUncompressedBytes / 1048576)} MiB.`);
  }
  if (xml > limits.maxZipXmlBytes) {
    throw new ParseError('RESOURCE_LIMIT', `The document's XML expands to more than ${Math.round(limits.maxZipXmlBytes / 1048576)} MiB.`);
  }
}

function entryData(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localHeaderOffset;
  if (at + 30 > bytes.length || view.getUint32(at, true) !== LOCAL_SIGNATURE) throw corrupted();
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  if (start + entry.compressedSize > bytes.length) throw corrupted();
  return bytes.subarray(start, start + entry.compressedSize);
}

/**
 * Inflates every entry as a stream without keeping the output, failing the moment one produces
 * more than its declared size.
 */
export function verifyZipInflation(bytes: Uint8Array, entries: readonly ZipEntry[]): void {
  for (const entry of entries) {
    if (entry.flags & 1) throw new ParseError('UNSUPPORTED_CONTENT', 'The archive is password-protected.');
    const data = entryData(bytes, entry);
    if (entry.method === 0) {
      if (data.length !== entry.uncompressedSize) throw corrupted();
      continue;
    }
    if (entry.method !== 8) throw new ParseError('UNSUPPORTED_CONTENT', 'The archive uses a compression method Frostbyte does not read.');
    let produced = 0;
    let overflow = false;
    const inflater = new Inflate((chunk) => {
      produced += chunk.length;
      if (produced > entry.uncompressedSize) overflow = true;
    });
    try {
      for (let offset = 0; offset < data.length && !overflow; offset += INFLATE_STEP_BYTES) {
        const end = Math.min(offset + INFLATE_STEP_BYTES, data.length);
        inflater.push(data.subarray(offset, end), end === data.length);
      }
    } catch {
      throw corrupted();
    }
    if (overflow) {
      throw new ParseError('RESOURCE_LIMIT', 'The archive expands beyond the sizes it declares (a zip bomb).');
    }
  }
}

/** Central directory read, limits checked and inflation verified: safe to hand to a library. */
export function inspectZip(bytes: Uint8Array, limits: ParseLimits): ZipEntry[] {
  const entries = readZipDirectory(bytes);
  assertZipWithinLimits(entries, limits);
  verifyZipInflation(bytes, entries);
  return entries;
}

/** One entry's bytes, inflated into a buffer of its (already verified) declared size. */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const data = entryData(bytes, entry);
  if (entry.method === 0) return data;
  try {
    return inflateSync(data, { out: new Uint8Array(entry.uncompressedSize) });
  } catch {
    throw corrupted();
  }
}
