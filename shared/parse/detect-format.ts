import { fileTypeFromBuffer } from 'file-type/core';
import { parse as parseCsv } from 'csv-parse/browser/esm/sync';
import type { DocumentFormat } from './types';

/**
 * How many leading bytes detectFormat needs. Intake sniffs this prefix of each upload while it
 * streams; the parser sniffs the same prefix of the stored object, so both always agree.
 * 64 KiB: magic numbers need 4 KiB, but telling OOXML kinds apart means reading zip entry names
 * (and `[Content_Types].xml`) that can sit a few KiB in, and CSV needs a few complete lines.
 */
export const SNIFF_BYTES = 65_536;

export const MIME_BY_FORMAT: Readonly<Record<DocumentFormat, string>> = Object.freeze({
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  txt: 'text/plain',
  csv: 'text/csv',
  png: 'image/png',
  tiff: 'image/tiff',
});

/** The MIME types Frostbyte accepts (a tenant allowlist may only narrow this). */
export const SUPPORTED_MIME_TYPES: readonly string[] = Object.freeze(Object.values(MIME_BY_FORMAT));

/** Other spellings vendors declare for the same formats. */
const MIME_ALIASES: Readonly<Record<string, DocumentFormat>> = Object.freeze({
  'application/x-pdf': 'pdf',
  'application/csv': 'csv',
  'text/x-csv': 'csv',
  'application/vnd.ms-excel.csv': 'csv',
  'text/tab-separated-values': 'csv',
  'image/tif': 'tiff',
  'image/x-tiff': 'tiff',
});

export interface DetectedFormat {
  mime: string;
  format: DocumentFormat;
}

/** The format a declared MIME type names (parameters like `; charset=utf-8` ignored), or null. */
export function formatOfMime(mime: string): DocumentFormat | null {
  const bare = mime.split(';')[0].trim().toLowerCase();
  for (const [format, known] of Object.entries(MIME_BY_FORMAT) as [DocumentFormat, string][]) {
    if (known === bare) return format;
  }
  return MIME_ALIASES[bare] ?? null;
}

function detected(format: DocumentFormat): DetectedFormat {
  return { format, mime: MIME_BY_FORMAT[format] };
}

/**
 * Decides the format from the bytes alone. Works on a prefix of the file (the first SNIFF_BYTES);
 * returns null for anything Frostbyte does not parse (other binaries, macro-enabled Office files,
 * HTML/XML, generic zips, empty input).
 */
export async function detectFormat(bytes: Uint8Array): Promise<DetectedFormat | null> {
  const sample = bytes.subarray(0, SNIFF_BYTES);
  if (sample.length === 0) return null;
  const maybeTruncated = sample.length === SNIFF_BYTES;
  let sniffed: { mime: string } | undefined;
  try {
    sniffed = await fileTypeFromBuffer(sample);
  } catch {
    sniffed = undefined;
  }
  if (sniffed) {
    switch (sniffed.mime) {
      case MIME_BY_FORMAT.pdf:
        return detected('pdf');
      case MIME_BY_FORMAT.png:
        return detected('png');
      case MIME_BY_FORMAT.tiff:
        return detected('tiff');
      case MIME_BY_FORMAT.docx:
        return detected('docx');
      case MIME_BY_FORMAT.xlsx:
        return detected('xlsx');
      case MIME_BY_FORMAT.pptx:
        return detected('pptx');
      case 'application/zip':
        return detectOoxmlByEntryNames(sample);
      default:
        return null;
    }
  }
  // PDF readers accept a header anywhere in the first 1 KiB (file-type only looks at offset 0).
  if (indexOfAscii(sample.subarray(0, 1024), '%PDF-') >= 0) return detected('pdf');
  return detectText(sample, maybeTruncated);
}

/**
 * file-type answers plain `zip` when the prefix ends before it could read `[Content_Types].xml`;
 * the local headers' entry names still tell the OOXML kinds apart.
 */
function detectOoxmlByEntryNames(sample: Uint8Array): DetectedFormat | null {
  const names = localEntryNames(sample);
  if (!names.includes('[Content_Types].xml')) return null;
  if (names.some((n) => n.startsWith('word/'))) return detected('docx');
  if (names.some((n) => n.startsWith('xl/'))) return detected('xlsx');
  if (names.some((n) => n.startsWith('ppt/'))) return detected('pptx');
  return null;
}

function localEntryNames(sample: Uint8Array): string[] {
  const names: string[] = [];
  const view = new DataView(sample.buffer, sample.byteOffset, sample.byteLength);
  const decoder = new TextDecoder();
  for (let i = 0; i + 30 <= sample.length; i++) {
    if (view.getUint32(i, true) !== 0x04034b50) continue;
    const nameLength = view.getUint16(i + 26, true);
    if (i + 30 + nameLength > sample.length) break;
    names.push(decoder.decode(sample.subarray(i + 30, i + 30 + nameLength)));
    i += 29 + nameLength;
  }
  return names;
}

function indexOfAscii(bytes: Uint8Array, needle: string): number {
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (bytes[i + j] !== needle.charCodeAt(j)) continue outer;
    }
    return i;
  }
  return -1;
}

/**
 * Decodes bytes as text the way the parser will: UTF-8 (BOM optional), UTF-16 with a BOM, else
 * Windows-1252 for legacy single-byte files. Returns null when the bytes look binary.
 */
export function decodeText(bytes: Uint8Array, maybeTruncated = false): { text: string; encoding: string } | null {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
    const encoding = bytes[0] === 0xff ? 'utf-16le' : 'utf-16be';
    const body = maybeTruncated ? bytes.subarray(0, bytes.length - ((bytes.length - 2) % 2)) : bytes;
    const text = new TextDecoder(encoding, { fatal: false }).decode(body);
    return looksLikeText(text) ? { text, encoding } : null;
  }
  if (bytes.includes(0)) return null;
  const body = maybeTruncated ? bytes.subarray(0, completeUtf8Length(bytes)) : bytes;
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
    return looksLikeText(text) ? { text, encoding: 'utf-8' } : null;
  } catch {
    const text = decodeWindows1252(bytes);
    return looksLikeText(text) ? { text, encoding: 'windows-1252' } : null;
  }
}

/** Windows-1252's 0x80–0x9F (0 = undefined there, kept as the C1 control and later stripped). */
const CP1252_HIGH = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
  0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
];

/**
 * Decoded by hand: Node 20's TextDecoder('windows-1252') decodes as ISO-8859-1, turning € and
 * curly quotes (0x80–0x9F) into control characters.
 */
function decodeWindows1252(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    const codes = Array.from(bytes.subarray(i, i + 8192), (b) => (b >= 0x80 && b <= 0x9f && CP1252_HIGH[b - 0x80]) || b);
    out += String.fromCharCode(...codes);
  }
  return out;
}

/** Length without a multi-byte UTF-8 sequence cut off at the end of a prefix. */
function completeUtf8Length(bytes: Uint8Array): number {
  let i = bytes.length - 1;
  let back = 0;
  while (i >= 0 && back < 4 && (bytes[i] & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return bytes.length;
  const lead = bytes[i];
  const needed = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return needed > back + 1 ? i : bytes.length;
}

/** Few control characters (tab, line breaks and form feed are fine) and not markup we reject. */
function looksLikeText(text: string): boolean {
  if (text.trim().length === 0) return false;
  let controls = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c) || c === 0xfffd) controls++;
  }
  if (controls > text.length * 0.01) return false;
  const head = text.replace(/^\uFEFF/, '').trimStart().slice(0, 256).toLowerCase();
  return !/^(?:<!doctype html|<html|<\?xml|<svg|\{\\rtf)/.test(head);
}

function detectText(sample: Uint8Array, maybeTruncated: boolean): DetectedFormat | null {
  const decoded = decodeText(sample, maybeTruncated);
  if (!decoded) return null;
  return detectCsvDelimiter(decoded.text, maybeTruncated) ? detected('csv') : detected('txt');
}

const CSV_DELIMITERS = [',', ';', '\t', '|'] as const;

/**
 * The delimiter when the text is a table: at least two records (three for two columns) that all
 * have the same number of fields, two or more. Prose with commas fails that test because its
 * lines carry different numbers of commas.
 */
export function detectCsvDelimiter(text: string, maybeTruncated = false): string | null {
  let sample = text.replace(/^\uFEFF/, '').slice(0, SNIFF_BYTES);
  if (maybeTruncated) {
    const lastBreak = sample.lastIndexOf('\n');
    if (lastBreak <= 0) return null;
    sample = sample.slice(0, lastBreak);
  }
  let best: { delimiter: string; columns: number } | null = null;
  for (const delimiter of CSV_DELIMITERS) {
    const records = tryParseRecords(sample, delimiter, maybeTruncated);
    if (!records || records.length < 2) continue;
    const columns = records[0].length;
    if (columns < 2 || (columns === 2 && records.length < 3)) continue;
    if (!records.every((record) => record.length === columns)) continue;
    if (!best || columns > best.columns) best = { delimiter, columns };
  }
  return best?.delimiter ?? null;
}

function tryParseRecords(sample: string, delimiter: string, maybeTruncated: boolean): string[][] | null {
  let text = sample;
  // A prefix may end inside a quoted field that spans lines: back off one line at a time.
  for (let attempt = 0; attempt < (maybeTruncated ? 8 : 1); attempt++) {
    try {
      return parseCsv(text, { delimiter, relax_column_count: true, skip_empty_lines: true, to_line: 200 }) as string[][];
    } catch {
      const lastBreak = text.lastIndexOf('\n');
      if (lastBreak <= 0) return null;
      text = text.slice(0, lastBreak);
    }
  }
  return null;
}
