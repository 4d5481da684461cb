/**
 * Versions of the libraries behind each format, as pinned in package.json; they name the parser
 * in every ParsedDocument. Kept here, apart from the parsers, so naming a parser does not load it.
 */
export const UNPDF_VERSION = '1.7.0'; // bundles PDF.js 5.6.205
export const MAMMOTH_VERSION = '1.13.0';
export const EXCELJS_VERSION = '4.4.0';
export const FFLATE_VERSION = '0.8.3';
export const SAXES_VERSION = '6.0.0';
export const CSV_PARSE_VERSION = '7.0.3';
export const UTIF_VERSION = '4.1.0';
/** With the `@tesseract.js-data/eng` 1.0.0 `4.0.0_best_int` model. */
export const TESSERACT_VERSION = '7.0.0';
