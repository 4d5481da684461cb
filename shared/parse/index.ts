/** The parser's public surface: detection for intake, parsing for the parse step and the CLI. */
export { detectFormat, formatOfMime, MIME_BY_FORMAT, SNIFF_BYTES, SUPPORTED_MIME_TYPES } from './detect-format';
export type { DetectedFormat } from './detect-format';
export { DEFAULT_PARSE_LIMITS } from './limits';
export type { ParseLimits } from './limits';
export { OcrImageError } from './ocr';
export type { OcrEngine, OcrInput, OcrOutput, RasterImage } from './ocr';
export { parseDocument, PARSER_VERSION } from './parse-document';
export type { ParseOptions } from './parse-document';
export { summarizeParse } from './summarize';
export { isParseFailureCode, PARSE_FAILURE_CODES, ParseError, ParseUnavailableError } from './types';
export type { DocumentFormat, ElementType, ParsedDocument, ParsedElement, ParsedPage, ParseFailureCode } from './types';
