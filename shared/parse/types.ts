/**
 * The canonical parsed document (DESIGN §5), stored as JSON at
 * `parsed/{tenant}/{doc_id}/{parser_version}.json`. Offsets are UTF-16 code-unit indexes into
 * `full_text` (JavaScript string indexes): `full_text.slice(start_char, end_char)` is the
 * element's text.
 */
export type ElementType = 'heading' | 'paragraph' | 'list_item' | 'table' | 'figure_caption';

/** Formats Frostbyte parses; decided from the bytes (see detect-format.ts). */
export type DocumentFormat = 'pdf' | 'docx' | 'xlsx' | 'pptx' | 'txt' | 'csv' | 'png' | 'tiff';

export interface ParsedElement {
  type: ElementType;
  /** 1-based page (PDF page, slide, sheet, or 1 for flowing formats). */
  page: number;
  start_char: number;
  end_char: number;
  text: string;
  /** Heading level (1 = top) for headings. */
  level?: number;
  /** Title of the section this element belongs to (nearest heading, sheet or slide title). */
  section_title?: string;
  /** Table rows as cells; `text` is the rows joined with tabs and newlines. */
  rows?: string[][];
  /** Offsets of each row inside full_text, so chunks split tables only between rows. */
  row_offsets?: [number, number][];
  /** `ocr` when the text came from OCR. */
  source?: 'text' | 'ocr';
}

export interface ParsedPage {
  page: number;
  start_char: number;
  end_char: number;
  /** Present for OCR'd pages: mean confidence 0–100. */
  ocr_confidence?: number;
}

export interface ParsedDocument {
  doc_id: string;
  source_sha256: string;
  mime_type: string;
  parser: string;
  parser_version: string;
  full_text: string;
  pages: ParsedPage[];
  elements: ParsedElement[];
  /**
   * Content that could not be read (a page without text that OCR could not read, a sheet that
   * failed, …). Plain sentences naming pages/sheets, never document text: safe to show a vendor.
   */
  warnings: string[];
  /** Always holds `format` and `page_count`; PDFs add `ocr_pages`, OOXML files `sheet_count` etc. */
  metadata: Record<string, string | number | boolean | null>;
}

/** Permanent parse failures: recorded on the file, never retried. */
export type ParseFailureCode = 'FILE_CORRUPTED' | 'ENCRYPTED_PDF' | 'UNSUPPORTED_CONTENT' | 'PARSE_TIMEOUT' | 'RESOURCE_LIMIT';

export const PARSE_FAILURE_CODES: readonly ParseFailureCode[] = [
  'FILE_CORRUPTED',
  'ENCRYPTED_PDF',
  'UNSUPPORTED_CONTENT',
  'PARSE_TIMEOUT',
  'RESOURCE_LIMIT',
];

/** A reason the file cannot be parsed. `message` is safe to show a vendor: no content, no stack. */
export class ParseError extends Error {
  constructor(readonly code: ParseFailureCode, message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

/**
 * The parser could not run for a reason that is not the file's fault (the OCR engine did not
 * start, a worker thread died without a verdict). Callers retry these; they are never recorded
 * as the file's parse failure.
 */
export class ParseUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParseUnavailableError';
  }
}

export function isParseFailureCode(value: unknown): value is ParseFailureCode {
  return typeof value === 'string' && (PARSE_FAILURE_CODES as readonly string[]).includes(value);
}
