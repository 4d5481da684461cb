import { detectFormat, SNIFF_BYTES } from './detect-format';
import { DocumentBuilder } from './document-builder';
import type { ParseLimits } from './limits';
import { resolveLimits } from './limits';
import type { OcrEngine } from './ocr';
import type { DocumentFormat, ParsedDocument } from './types';
import { ParseError, ParseUnavailableError } from './types';
import {
  CSV_PARSE_VERSION,
  EXCELJS_VERSION,
  FFLATE_VERSION,
  MAMMOTH_VERSION,
  SAXES_VERSION,
  TESSERACT_VERSION,
  UNPDF_VERSION,
  UTIF_VERSION,
} from './versions';

/**
 * Version of the parser's behaviour. It is part of the stored key
 * (`parsed/{tenant}/{doc_id}/{parser_version}.json`) and of the parse step's idempotency key:
 * bump it whenever the same bytes would parse differently (offsets, element types, text).
 */
export const PARSER_VERSION = '1.0.0';

const PARSER_BY_FORMAT: Readonly<Record<DocumentFormat, string>> = {
  pdf: `unpdf ${UNPDF_VERSION} (pdf.js)`,
  docx: `mammoth ${MAMMOTH_VERSION}`,
  xlsx: `exceljs ${EXCELJS_VERSION}`,
  pptx: `fflate ${FFLATE_VERSION} + saxes ${SAXES_VERSION}`,
  txt: 'frostbyte-text',
  csv: `csv-parse ${CSV_PARSE_VERSION}`,
  png: `tesseract.js ${TESSERACT_VERSION}`,
  tiff: `utif2 ${UTIF_VERSION} + tesseract.js ${TESSERACT_VERSION}`,
};

export interface ParseOptions {
  docId: string;
  sha256: string;
  /** The MIME type recorded at intake (itself sniffed). The bytes decide; a mismatch is a warning. */
  mime: string;
  /** OCR for images and scanned PDF pages. Without it images fail and scanned pages are skipped. */
  ocr?: OcrEngine;
  limits?: Partial<ParseLimits>;
  /** Checked between pages: once aborted, parsing stops with PARSE_TIMEOUT. */
  signal?: AbortSignal;
}

/**
 * Bytes → canonical ParsedDocument (DESIGN §5). Pure apart from the OCR port: runs anywhere
 * (Node worker thread, Workers, Lambda). Every failure that is the file's fault is a ParseError
 * with a vendor-safe message; ParseUnavailableError means "could not run, retry".
 */
export async function parseDocument(bytes: Uint8Array, options: ParseOptions): Promise<ParsedDocument> {
  const limits = resolveLimits(options.limits);
  if (bytes.length === 0) throw new ParseError('UNSUPPORTED_CONTENT', 'The file is empty.');
  const detected = await detectFormat(bytes.subarray(0, SNIFF_BYTES));
  if (!detected) throw new ParseError('UNSUPPORTED_CONTENT', 'The file is not in a format Frostbyte parses.');
  const warnings: string[] = [];
  const declared = options.mime.split(';')[0].trim().toLowerCase();
  if (declared && declared !== detected.mime) {
    warnings.push(`The file was recorded as ${declared} but its content is ${detected.mime}; it was parsed as ${detected.format.toUpperCase()}.`);
  }
  const builder = new DocumentBuilder(limits.maxTextChars, limits.maxTableCells);
  let metadata: Record<string, string | number | boolean | null>;
  try {
    metadata = await parseFormat(detected.format, bytes, builder, limits, options, warnings);
  } catch (error) {
    throw toParseFailure(error, detected.format);
  }
  const { full_text, elements, pages } = builder.build();
  if (full_text.trim() === '') {
    throw new ParseError('UNSUPPORTED_CONTENT', emptyMessage(detected.format, warnings));
  }
  return {
    doc_id: options.docId,
    source_sha256: options.sha256,
    mime_type: detected.mime,
    parser: PARSER_BY_FORMAT[detected.format],
    parser_version: PARSER_VERSION,
    full_text,
    pages,
    elements,
    warnings,
    metadata: { format: detected.format, ...metadata, page_count: pages.length },
  };
}

/** Loads every format's parser now (a worker warming up) instead of on first use. */
export async function preloadParsers(): Promise<void> {
  await Promise.all([import('./parse-pdf'), import('./parse-docx'), import('./parse-xlsx'), import('./parse-pptx'), import('./parse-text'), import('./parse-image')]);
}

async function parseFormat(
  format: DocumentFormat,
  bytes: Uint8Array,
  builder: DocumentBuilder,
  limits: ParseLimits,
  options: ParseOptions,
  warnings: string[],
): Promise<Record<string, string | number | boolean | null>> {
  // Each format's library is loaded on first use: a worker thread that only ever sees PDFs never
  // pays for exceljs or mammoth (worker start-up is ~0.3 s instead of ~1.1 s).
  switch (format) {
    case 'pdf':
      return (await import('./parse-pdf')).parsePdf(bytes, builder, { limits, ocr: options.ocr, warnings, signal: options.signal });
    case 'docx':
      return (await import('./parse-docx')).parseDocx(bytes, builder, limits);
    case 'xlsx':
      return (await import('./parse-xlsx')).parseXlsx(bytes, builder, limits);
    case 'pptx':
      return (await import('./parse-pptx')).parsePptx(bytes, builder, limits);
    case 'txt':
      return (await import('./parse-text')).parseTxt(bytes, builder, limits);
    case 'csv':
      return (await import('./parse-text')).parseCsvTable(bytes, builder, limits);
    case 'png':
      return (await import('./parse-image')).parsePng(bytes, builder, limits, options.ocr);
    case 'tiff':
      return (await import('./parse-image')).parseTiff(bytes, builder, limits, options.ocr, warnings);
  }
}

/**
 * Anything a format library throws on malformed input is the file's fault. Library messages are
 * not passed on: they may quote document content.
 */
function toParseFailure(error: unknown, format: DocumentFormat): Error {
  if (error instanceof ParseError || error instanceof ParseUnavailableError) return error;
  if (error instanceof RangeError && /allocation|memory|Invalid array length|Invalid string length/i.test(error.message)) {
    return new ParseError('RESOURCE_LIMIT', 'The file needs more memory to parse than is allowed.');
  }
  return new ParseError('FILE_CORRUPTED', `The ${format.toUpperCase()} file is damaged or malformed and could not be parsed.`);
}

function emptyMessage(format: DocumentFormat, warnings: readonly string[]): string {
  if (format === 'png' || format === 'tiff') return 'OCR found no text in the image.';
  if (format === 'pdf' && warnings.some((w) => w.includes('OCR is not available'))) {
    return 'The PDF has no text layer and OCR is not available here.';
  }
  return 'The file contains no text.';
}
