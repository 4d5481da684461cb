import ExcelJS from 'exceljs';
import type { CellValue } from 'exceljs';
import type { DocumentBuilder } from './document-builder';
import type { ParseLimits } from './limits';
import { ParseError } from './types';
import { splitTableRows } from './table-split';
import { inspectZip } from './zip-guard';


/** XLSX via exceljs: one page/section per sheet (a heading with the sheet name), rows as tables. */
export async function parseXlsx(bytes: Uint8Array, builder: DocumentBuilder, limits: ParseLimits): Promise<Record<string, number>> {
  inspectZip(bytes, limits);
  const workbook = new ExcelJS.Workbook();
  try {
    // exceljs hands the buffer to JSZip, which reads any Uint8Array.
    await workbook.xlsx.load(bytes as unknown as Parameters<typeof workbook.xlsx.load>[0]);
  } catch {
    throw new ParseError('FILE_CORRUPTED', 'The spreadsheet could not be read.');
  }
  const sheets = workbook.worksheets;
  if (sheets.length > limits.maxPages) {
    throw new ParseError('RESOURCE_LIMIT', `The workbook has more than ${limits.maxPages} sheets.`);
  }
  let tables = 0;
  let rowCount = 0;
  sheets.forEach((sheet, index) => {
    builder.beginPage(index + 1);
    builder.add('heading', sheet.name, { level: 1 });
    const rows: string[][] = [];
    sheet.eachRow({ includeEmpty: false }, (row) => {
      const values = row.values as CellValue[];
      const cells: string[] = [];
      for (let column = 1; column < values.length; column++) cells.push(cellText(values[column]));
      if (cells.some((cell) => cell.trim() !== '')) rows.push(cells);
    });
    rowCount += rows.length;
    for (const batch of splitTableRows(rows)) {
      if (builder.addTable(batch)) tables++;
    }
    builder.endPage();
  });
  return { sheet_count: sheets.length, table_count: tables, row_count: rowCount };
}

function cellText(value: CellValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value instanceof Date) return formatDate(value);
  if ('richText' in value) return value.richText.map((run) => run.text).join('');
  if ('error' in value) return value.error;
  if ('hyperlink' in value) return typeof value.text === 'string' ? value.text : String(value.hyperlink);
  if ('formula' in value || 'sharedFormula' in value) {
    const result = (value as { result?: unknown }).result;
    if (result === undefined || result === null) return '';
    if (typeof result === 'object' && !(result instanceof Date) && 'error' in result) return String((result as { error: string }).error);
    return cellText(result as CellValue);
  }
  return '';
}

/** 15 significant digits, as Excel shows: 0.1 + 0.2 is "0.3", not "0.30000000000000004". */
function formatNumber(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(15))) : String(value);
}

/** Excel dates arrive as UTC instants: a date alone as YYYY-MM-DD, else with the time. */
function formatDate(value: Date): string {
  if (Number.isNaN(value.getTime())) return '';
  const iso = value.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.slice(0, 19).replace('T', ' ');
}
