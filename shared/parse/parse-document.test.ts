import { strToU8 } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  CSV_ROWS,
  DOCX_TEXT,
  makeCsv,
  makeDocx,
  makeEncryptedPdf,
  makePdf,
  makePptx,
  makeScannedPdf,
  makeTruncatedPdf,
  makeTxt,
  makeXlsx,
  makeZipBomb,
  pdfMarkerSentence,
  pdfSectionHeading,
  PPTX_SLIDES,
  readFixture,
  XLSX_TEXT,
} from '../../tests/fixtures/build';
import { expectRealOffsets, textsOf } from '../../tests/fixtures/expect-parsed';
import { detectFormat } from './detect-format';
import { parseDocument, PARSER_VERSION } from './parse-document';
import type { ParseOptions } from './parse-document';
import { summarizeParse } from './summarize';
import type { ParsedDocument } from './types';
import { ParseError } from './types';
import { TABLE_ROWS_PER_ELEMENT } from './table-split';

async function parse(bytes: Uint8Array, extra: Partial<ParseOptions> = {}): Promise<ParsedDocument> {
  const detected = await detectFormat(bytes);
  return parseDocument(bytes, { docId: 'doc_test', sha256: 'a'.repeat(64), mime: detected?.mime ?? 'application/octet-stream', ...extra });
}

async function failureOf(bytes: Uint8Array, extra: Partial<ParseOptions> = {}): Promise<ParseError> {
  try {
    await parse(bytes, extra);
  } catch (error) {
    expect(error).toBeInstanceOf(ParseError);
    return error as ParseError;
  }
  throw new Error('expected a ParseError');
}

describe('parseDocument: PDF', () => {
  it('keeps pages, headings from type size and numbering, list items and paragraphs', async () => {
    const doc = await parse(await makePdf({ pages: 3, linesPerPage: 20 }));
    expectRealOffsets(doc);
    expect(doc.parser).toMatch(/^unpdf 1\.7\.0/);
    expect(doc.parser_version).toBe(PARSER_VERSION);
    expect(doc.pages.map((p) => p.page)).toEqual([1, 2, 3]);
    const headings = doc.elements.filter((e) => e.type === 'heading');
    expect(headings[0]).toMatchObject({ text: 'MASTER SERVICES AGREEMENT', level: 1, page: 1 });
    for (const page of [1, 2, 3]) {
      expect(headings.find((h) => h.page === page && h.text === pdfSectionHeading(page))?.level).toBe(2);
      const paragraph = doc.elements.find((e) => e.page === page && e.type === 'paragraph');
      expect(paragraph?.text.startsWith(pdfMarkerSentence(page))).toBe(true);
      expect(paragraph?.section_title).toBe(pdfSectionHeading(page));
      const items = doc.elements.filter((e) => e.page === page && e.type === 'list_item');
      expect(items.map((i) => i.text.slice(0, 3))).toEqual(['(a)', '(b)']);
      // The page's own text range holds its heading and marker sentence.
      const pageText = doc.full_text.slice(doc.pages[page - 1].start_char, doc.pages[page - 1].end_char);
      expect(pageText).toContain(pdfMarkerSentence(page));
    }
    expect(doc.metadata).toMatchObject({ format: 'pdf', page_count: 3, ocr_pages: 0, title: 'Master Services Agreement' });
    expect(doc.warnings).toEqual([]);
  });

  it('joins wrapped lines into one paragraph instead of one element per line', async () => {
    const doc = await parse(await makePdf({ pages: 1, linesPerPage: 30 }));
    const paragraphs = doc.elements.filter((e) => e.type === 'paragraph' && !e.text.startsWith('Page '));
    expect(paragraphs.length).toBeGreaterThan(1);
    expect(paragraphs.length).toBeLessThan(12);
    expect(paragraphs.every((p) => !p.text.includes('\n'))).toBe(true);
  });

  it('fails a password-protected PDF with ENCRYPTED_PDF', async () => {
    const error = await failureOf(makeEncryptedPdf());
    expect(error.code).toBe('ENCRYPTED_PDF');
    expect(error.message).toBe('The PDF is password-protected.');
  });

  it('fails a truncated PDF with FILE_CORRUPTED', async () => {
    expect((await failureOf(await makeTruncatedPdf())).code).toBe('FILE_CORRUPTED');
  });

  it('fails a PDF whose body is garbage with FILE_CORRUPTED and a message without content', async () => {
    const bytes = strToU8('%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\nsecret clause text\n%%EOF\n');
    const error = await failureOf(bytes);
    expect(error.code).toBe('FILE_CORRUPTED');
    expect(error.message).not.toContain('secret');
  });

  it('answers RESOURCE_LIMIT for more pages than allowed', async () => {
    const error = await failureOf(await makePdf({ pages: 4, linesPerPage: 2 }), { limits: { maxPages: 3 } });
    expect(error.code).toBe('RESOURCE_LIMIT');
  });

  it('skips a scanned page with a warning when no OCR engine is given, and fails a scan-only PDF', async () => {
    const mixed = await parse(await makeScannedPdf({ withTextPage: true }));
    expectRealOffsets(mixed);
    expect(mixed.pages).toHaveLength(2);
    expect(mixed.pages[0].start_char).toBe(mixed.pages[0].end_char);
    expect(textsOf(mixed)).toEqual(['This second page carries an ordinary text layer.']);
    expect(mixed.warnings).toEqual(['Page 1 has no text layer and OCR is not available; it was skipped.']);
    expect((await failureOf(await makeScannedPdf())).code).toBe('UNSUPPORTED_CONTENT');
  });

  it('stops with PARSE_TIMEOUT when the signal is already aborted', async () => {
    const error = await failureOf(await makePdf({ pages: 2 }), { signal: AbortSignal.abort() });
    expect(error.code).toBe('PARSE_TIMEOUT');
  });
});

describe('parseDocument: DOCX', () => {
  it('keeps heading levels, paragraphs, list items (nested too), the table as rows and its caption', async () => {
    const doc = await parse(makeDocx());
    expectRealOffsets(doc);
    expect(doc.parser).toBe('mammoth 1.13.0');
    expect(doc.elements.map((e) => [e.type, e.level ?? null, e.text])).toEqual([
      ['heading', 1, DOCX_TEXT.title],
      ['heading', 2, DOCX_TEXT.heading2],
      ['paragraph', null, DOCX_TEXT.paragraph],
      ['list_item', null, DOCX_TEXT.bullet1],
      ['list_item', null, DOCX_TEXT.nested],
      ['list_item', null, DOCX_TEXT.bullet2],
      ['table', null, DOCX_TEXT.table.map((row) => row.join('\t')).join('\n')],
      ['figure_caption', null, DOCX_TEXT.caption],
      ['heading', 2, DOCX_TEXT.heading2b],
      ['paragraph', null, DOCX_TEXT.closing],
    ]);
    const table = doc.elements.find((e) => e.type === 'table');
    expect(table?.rows).toEqual(DOCX_TEXT.table);
    expect(table?.section_title).toBe(DOCX_TEXT.heading2);
    expect(doc.metadata).toMatchObject({ format: 'docx', table_count: 1, page_count: 1 });
  });

  it('fails a damaged DOCX with FILE_CORRUPTED', async () => {
    const bytes = makeDocx();
    expect((await failureOf(bytes.slice(0, Math.floor(bytes.length / 2)))).code).toBe('FILE_CORRUPTED');
  });
});

describe('parseDocument: XLSX', () => {
  it('makes one page and section per sheet with rows kept as table rows', async () => {
    const doc = await parse(await makeXlsx());
    expectRealOffsets(doc);
    expect(doc.parser).toBe('exceljs 4.4.0');
    expect(doc.pages).toHaveLength(2);
    expect(doc.elements.filter((e) => e.type === 'heading').map((e) => [e.text, e.page])).toEqual([
      ['Pricing', 1],
      ['Contacts', 2],
    ]);
    const pricing = doc.elements.find((e) => e.type === 'table' && e.page === 1);
    expect(pricing?.section_title).toBe('Pricing');
    expect(pricing?.rows?.[0]).toEqual(XLSX_TEXT.pricingHeader);
    expect(pricing?.rows?.[1]).toEqual(XLSX_TEXT.pricingRow1);
    // Rich text, 0.1 + 0.2 as Excel shows it, formula results; the empty row is dropped.
    expect(pricing?.rows?.[2]).toEqual(['SKU-002', XLSX_TEXT.richText, '0.3', '3', '0.9', '2024-06-15']);
    expect(pricing?.rows).toHaveLength(4);
    expect(doc.metadata).toMatchObject({ sheet_count: 2, row_count: 7 });
  });

  it('splits a large sheet into several tables between rows, losing none', async () => {
    const doc = await parse(await makeXlsx({ ledgerRows: 450 }));
    expectRealOffsets(doc);
    const ledger = doc.elements.filter((e) => e.type === 'table' && e.section_title === 'Ledger');
    expect(ledger).toHaveLength(3);
    expect(ledger.every((t) => (t.rows?.length ?? 0) <= TABLE_ROWS_PER_ELEMENT)).toBe(true);
    const rows = ledger.flatMap((t) => t.rows ?? []);
    expect(rows).toHaveLength(451);
    expect(rows[450]).toEqual(['450', 'ACC-006', '1350']);
  });
});

describe('parseDocument: PPTX', () => {
  it('makes one page per slide: title heading, bullets as list items, text box, table rows', async () => {
    const doc = await parse(makePptx());
    expectRealOffsets(doc);
    expect(doc.pages).toHaveLength(2);
    expect(doc.elements.map((e) => [e.page, e.type, e.text])).toEqual([
      [1, 'heading', PPTX_SLIDES[0].title],
      [1, 'list_item', 'Revenue grew 12 percent'],
      [1, 'list_item', 'Churn fell to 3 percent'],
      [1, 'paragraph', 'Prepared for the steering committee.'],
      [2, 'heading', PPTX_SLIDES[1].title],
      [2, 'list_item', 'Europe leads growth'],
      [2, 'table', 'Region\tRevenue\nEurope\t4.2M\nAmericas\t3.9M'],
    ]);
    expect(doc.elements[6].section_title).toBe('Regional Figures');
    expect(doc.metadata).toMatchObject({ slide_count: 2, table_count: 1 });
  });

  it('follows the presentation order, not the part names', async () => {
    const doc = await parse(makePptx([{ title: 'First' }, { title: 'Second' }, { title: 'Third' }]));
    expect(textsOf(doc, 'heading')).toEqual(['First', 'Second', 'Third']);
  });
});

describe('parseDocument: TXT and CSV', () => {
  it('splits text into headings, list items, paragraphs and captions', async () => {
    const doc = await parse(makeTxt());
    expectRealOffsets(doc);
    expect(doc.elements.map((e) => [e.type, e.text])).toEqual([
      ['heading', 'TERMS OF SERVICE'],
      ['paragraph', 'These terms govern the use of the platform by every customer. They apply from the date of signature.'],
      ['heading', '1. Definitions'],
      ['list_item', '- Customer means the party named in the order form.'],
      ['list_item', '- Platform means the hosted service.'],
      ['paragraph', 'The customer may end the agreement with thirty days notice.'],
      ['figure_caption', 'Figure 1: Notice periods by plan'],
    ]);
  });

  it('reads Windows-1252 and strips characters PostgreSQL cannot store', async () => {
    const filler = ' Served daily from noon until late in the evening.';
    const latin = Uint8Array.from([...strToU8('Caf'), 0xe9, ...strToU8(` menu${filler}\n\nPrice 5`), 0x80, 0x0b, ...strToU8(`${filler}\n`)]);
    const doc = await parse(latin);
    expectRealOffsets(doc);
    expect(doc.full_text).toBe(`Café menu${filler}\n\nPrice 5€${filler}`);
    expect(doc.metadata.encoding).toBe('windows-1252');
  });

  it('keeps CSV rows, quoted commas, quotes and line breaks inside fields', async () => {
    const doc = await parse(makeCsv());
    expectRealOffsets(doc);
    const [table] = doc.elements;
    expect(doc.elements).toHaveLength(1);
    expect(table.rows).toEqual(CSV_ROWS.map((row) => {
      const cells = row.map((cell) => cell.replace(/\s+/g, ' ').trim());
      while (cells.length && cells[cells.length - 1] === '') cells.pop();
      return cells;
    }));
    expect(doc.metadata).toMatchObject({ delimiter: ',', row_count: 4 });
  });

  it('splits a long CSV into tables of whole rows', async () => {
    const doc = await parse(makeCsv({ rows: 1000, delimiter: ';' }));
    expectRealOffsets(doc);
    expect(doc.metadata.delimiter).toBe(';');
    const rows = doc.elements.flatMap((e) => e.rows ?? []);
    expect(rows).toHaveLength(1004);
    expect(doc.elements.length).toBeGreaterThanOrEqual(Math.ceil(1004 / TABLE_ROWS_PER_ELEMENT));
  });
});

describe('parseDocument: failures', () => {
  it('refuses a zip bomb from its central directory before inflating', async () => {
    const bomb = makeZipBomb();
    const started = performance.now();
    const error = await failureOf(bomb);
    expect(error.code).toBe('RESOURCE_LIMIT');
    expect(error.message).toContain('zip bomb');
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('catches a zip whose headers lie about the sizes while inflating, before the library does', async () => {
    const error = await failureOf(makeZipBomb({ lie: true }));
    expect(error.code).toBe('RESOURCE_LIMIT');
  });

  it('applies the absolute uncompressed-size cap', async () => {
    const error = await failureOf(makeDocx({ extraParagraphs: 50 }), { limits: { maxZipUncompressedBytes: 4096 } });
    expect(error.code).toBe('RESOURCE_LIMIT');
  });

  it('answers UNSUPPORTED_CONTENT for unsupported bytes, empty files and files without text', async () => {
    expect((await failureOf(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]))).code).toBe('UNSUPPORTED_CONTENT');
    expect((await failureOf(new Uint8Array(0))).code).toBe('UNSUPPORTED_CONTENT');
    expect((await failureOf(makePptx([{ title: '' }]))).code).toBe('UNSUPPORTED_CONTENT');
  });

  it('fails images with UNSUPPORTED_CONTENT when the runtime has no OCR', async () => {
    expect((await failureOf(readFixture('ocr-sentence.png'))).code).toBe('UNSUPPORTED_CONTENT');
  });

  it('warns when the recorded MIME type disagrees with the bytes', async () => {
    const doc = await parseDocument(makeTxt(), { docId: 'doc_test', sha256: 'x', mime: 'text/csv' });
    expect(doc.mime_type).toBe('text/plain');
    expect(doc.warnings[0]).toContain('recorded as text/csv');
  });
});

describe('summarizeParse', () => {
  it('counts pages, elements by type, characters and warnings without quoting content', async () => {
    const doc = await parse(makeDocx());
    const summary = summarizeParse(doc);
    expect(summary).toContain('pages:      1');
    expect(summary).toContain('elements:   10 (heading 3, paragraph 2, list_item 3, table 1, figure_caption 1)');
    expect(summary).toContain(`characters: ${doc.full_text.length}`);
    expect(summary).toContain('warnings:   none');
    expect(summary).not.toContain('Supply Agreement');
  });
});
