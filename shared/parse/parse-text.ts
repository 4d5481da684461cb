import { parse as parseCsv } from 'csv-parse/browser/esm/sync';
import { decodeText, detectCsvDelimiter } from './detect-format';
import type { DocumentBuilder } from './document-builder';
import { sanitizeText } from './document-builder';
import { TABLE_CHARS_PER_ELEMENT, TABLE_ROWS_PER_ELEMENT } from './parse-xlsx';
import { addTextBlocks } from './text-blocks';
import { ParseError } from './types';

export const CSV_PARSE_VERSION = '7.0.3'; // pinned in package.json

function decodeOrFail(bytes: Uint8Array): { text: string; encoding: string } {
  const decoded = decodeText(bytes);
  if (!decoded) throw new ParseError('FILE_CORRUPTED', 'The text file is not valid text in a supported encoding.');
  return decoded;
}

/** Plain text: blocks split on blank lines; headings and list items recognised by their shape. */
export function parseTxt(bytes: Uint8Array, builder: DocumentBuilder): Record<string, string | number> {
  const { text, encoding } = decodeOrFail(bytes);
  builder.beginPage(1);
  addTextBlocks(builder, sanitizeText(text.replace(/^\uFEFF/, '')).replace(/\f/g, '\n\n'));
  builder.endPage();
  return { encoding };
}

/** CSV (or TSV / semicolon / pipe separated): one table, split into elements between rows. */
export function parseCsvTable(bytes: Uint8Array, builder: DocumentBuilder): Record<string, string | number> {
  const { text, encoding } = decodeOrFail(bytes);
  const body = text.replace(/^\uFEFF/, '');
  const delimiter = detectCsvDelimiter(body) ?? ',';
  let records: string[][];
  try {
    records = parseCsv(body, { delimiter, relax_column_count: true, skip_empty_lines: true, relax_quotes: true }) as string[][];
  } catch {
    throw new ParseError('FILE_CORRUPTED', 'The CSV file could not be read (unbalanced quotes).');
  }
  builder.beginPage(1);
  let tables = 0;
  for (let i = 0; i < records.length; ) {
    const batch: string[][] = [];
    let chars = 0;
    while (i < records.length && batch.length < TABLE_ROWS_PER_ELEMENT && (batch.length === 0 || chars < TABLE_CHARS_PER_ELEMENT)) {
      const row = records[i++];
      chars += row.reduce((sum, cell) => sum + cell.length + 1, 0);
      batch.push(row);
    }
    if (builder.addTable(batch)) tables++;
  }
  builder.endPage();
  return { encoding, delimiter: delimiter === '\t' ? 'tab' : delimiter, row_count: records.length, table_count: tables };
}
