/**
 * Bounds on what one parse may consume, checked before the expensive work starts. Breaching one
 * is `RESOURCE_LIMIT`, a permanent failure. Time and heap are bounded separately by the worker
 * pool (shared/node/parse-pool.ts), but Node enforces a worker's heap limit only best-effort: a
 * parse that outgrows it inside one large allocation (a huge string join, a big array) aborts
 * the whole process instead of the thread (nodejs/node#47224). These limits are therefore sized
 * so that a parse stays well under the pool's default heap (measured: ~300 B of heap per table
 * cell for CSV, ~850 B per cell for exceljs, ~7 B per character of plain text).
 */
export interface ParseLimits {
  /** PDF pages, TIFF pages, slides or sheets in one file. Default 5,000. */
  maxPages: number;
  /**
   * Pages that need OCR in one file. Default 100: an A4 page at 300 dpi takes 1.5–5 s on one
   * core, so 100 pages fit the pool's default 5-minute time bound.
   */
  maxOcrPages: number;
  /** Pixels in one image handed to OCR (width × height). Default 50 million (≈ A3 at 600 dpi). */
  maxImagePixels: number;
  /** Sum of the uncompressed sizes of a zip's entries (DOCX/XLSX/PPTX). Default 256 MiB. */
  maxZipUncompressedBytes: number;
  /** Uncompressed/compressed ratio of one zip entry bigger than 1 MiB. Default 200 (XML compresses ~5–30×). */
  maxZipRatio: number;
  /** Entries in one zip. Default 10,000. */
  maxZipEntries: number;
  /** Uncompressed XML in a DOCX/XLSX/PPTX (what mammoth/exceljs hold in memory). Default 24 MiB. */
  maxZipXmlBytes: number;
  /** Characters of extracted text (UTF-16 units). Default 20 million (≈ 10,000 dense pages). */
  maxTextChars: number;
  /** Spreadsheet/CSV cells kept. Default 500,000. */
  maxTableCells: number;
}

export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxPages: 5_000,
  maxOcrPages: 100,
  maxImagePixels: 50_000_000,
  maxZipUncompressedBytes: 256 * 1024 * 1024,
  maxZipRatio: 200,
  maxZipEntries: 10_000,
  maxZipXmlBytes: 24 * 1024 * 1024,
  maxTextChars: 20_000_000,
  maxTableCells: 500_000,
});

export function resolveLimits(overrides: Partial<ParseLimits> | undefined): ParseLimits {
  return { ...DEFAULT_PARSE_LIMITS, ...overrides };
}
