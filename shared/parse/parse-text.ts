import { parse as parseCsv } from 'csv-parse/browser/esm/sync';
import { decodeText, detectCsvDelimiter } from './detect-format';
import type { DocumentBuilder } from './document-builder';
import { sanitizeText } from './document-builder';
import { splitTableRows } from './table-split';
import type { ParseLimits } from './limits';
import { addTextBlocks } from './text-blocks';
import { ParseError } from './types';

function decodeOrFail(bytes: Uint8Array, limits: ParseLimits): { text: string; encoding: string } {
  // Every UTF-16 unit takes at least one byte and at most four: reject clearly oversized files
  // before decoding them into one huge string.
  if (bytes.length > limits.maxTextChars * 4) {
    throw new ParseError('RESOURCE_LIMIT', `The file holds more than ${limits.maxTextChars} characters of text.`);
  }
  const decoded = decodeText(bytes);
  if (!decoded) throw new ParseError('FILE_CORRUPTED', 'The text file is not valid text in a supported encoding.');
  if (decoded.text.length > limits.maxTextChars) {
    throw new ParseError('RESOURCE_LIMIT', `The file holds more than ${limits.maxTextChars} characters of text.`);
  }
  return decoded;
}

/** Plain text: blocks split on blank lines; headings and list items recognised by their shape. */
export function parseTxt(bytes: Uint8Array, builder: DocumentBuilder, limits: ParseLimits): Record<string, string | number> {
  const { text, encoding } = decodeOrFail(bytes, limits);
  builder.beginPage(1);
  addTextBlocks(builder, sanitizeText(text.replace(/^\uFEFF/, '')).replace(/\f/g, '\n\n'));
  builder.endPage();
  return { encoding };
}

/** CSV (or TSV / semicolon / pipe separated): one table, split into elements between rows. */
export function parseCsvTable(bytes: Uint8Array, builder: DocumentBuilder, limits: ParseLimits): Record<string, string | number> {
  const { text, encoding } = decodeOrFail(bytes, limits);
  const body = text.replace(/^\uFEFF/, '');
  const delimiter = detectCsvDelimiter(body) ?? ',';
  let records: string[][];
  let cells = 0;
  try {
    records = parseCsv(body, {
      delimiter,
      relax_column_count: true,
      skip_empty_lines: true,
      relax_quotes: true,
      // Counted while parsing, so an oversized table stops early instead of filling the heap.
      on_record: (record: string[]) => {
        cells += record.length;
        if (cells > limits.maxTableCells) throw new ParseError('RESOURCE_LIMIT', `The file has more than ${limits.maxTableCells} table cells.`);
        return record;
      },
    }) as string[][];
  } catch (error) {
    if (error instanceof ParseError) throw error;
    throw new ParseError('FILE_CORRUPTED', 'The CSV file could not be read (unbalanced quotes).');
  }
  builder.beginPage(1);
  let tables = 0;
  for (const batch of splitTableRows(records)) {
    if (builder.addTable(batch)) tables++;
  }
  builder.endPage();
  return { encoding, delimiter: delimiter === '\t' ? 'tab' : delimiter, row_count: records.length, table_count: tables };
}
