import { strToU8 } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  makeCsv,
  makeDocx,
  makeEncryptedPdf,
  makePdf,
  makePptx,
  makeTxt,
  makeXlsx,
  makeZipBomb,
  readFixture,
} from '../../tests/fixtures/build';
import { detectFormat, formatOfMime, MIME_BY_FORMAT, SNIFF_BYTES, SUPPORTED_MIME_TYPES } from './detect-format';

describe('detectFormat', () => {
  it('names every supported format from its bytes', async () => {
    const cases: [Uint8Array, string][] = [
      [await makePdf({ pages: 1 }), 'pdf'],
      [makeEncryptedPdf(), 'pdf'],
      [makeDocx(), 'docx'],
      [await makeXlsx(), 'xlsx'],
      [makePptx(), 'pptx'],
      [makeCsv(), 'csv'],
      [makeCsv({ delimiter: ';' }), 'csv'],
      [makeCsv({ delimiter: '\t' }), 'csv'],
      [makeTxt(), 'txt'],
      [readFixture('ocr-sentence.png'), 'png'],
      [readFixture('ocr-two-pages-g4.tiff'), 'tiff'],
      [readFixture('ocr-deflate.tiff'), 'tiff'],
    ];
    for (const [bytes, format] of cases) {
      const detected = await detectFormat(bytes);
      expect(detected, format).toEqual({ format, mime: MIME_BY_FORMAT[format as keyof typeof MIME_BY_FORMAT] });
    }
  });

  it('decides from a SNIFF_BYTES prefix exactly as from the whole file', async () => {
    const bigDocx = makeDocx({ extraParagraphs: 12_000 });
    const bigXlsx = await makeXlsx({ ledgerRows: 20_000 });
    const bigCsv = makeCsv({ rows: 5000 });
    for (const bytes of [bigDocx, bigXlsx, bigCsv]) {
      expect(bytes.length).toBeGreaterThan(SNIFF_BYTES);
      expect(await detectFormat(bytes.subarray(0, SNIFF_BYTES))).toEqual(await detectFormat(bytes));
    }
    expect((await detectFormat(bigCsv.subarray(0, SNIFF_BYTES)))?.format).toBe('csv');
  });

  it('keeps a UTF-8 character cut by the prefix from making text look binary', async () => {
    const text = 'Ødegaard café résumé — '.repeat(4000);
    const bytes = strToU8(text);
    expect(bytes.length).toBeGreaterThan(SNIFF_BYTES);
    expect((await detectFormat(bytes.subarray(0, SNIFF_BYTES)))?.format).toBe('txt');
  });

  it('ignores the declared type: a PNG named .pdf is a PNG, a zip bomb shaped like DOCX is DOCX', async () => {
    expect((await detectFormat(readFixture('ocr-sentence.png')))?.format).toBe('png');
    expect((await detectFormat(makeZipBomb()))?.format).toBe('docx');
  });

  it('refuses what Frostbyte does not parse', async () => {
    const refused: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1]), // JPEG
      Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256), // binary noise with NULs
      strToU8('<!DOCTYPE html><html><body><p>Hello</p></body></html>'),
      strToU8('<?xml version="1.0"?><root/>'),
      strToU8('{\\rtf1\\ansi Hello}'),
      strToU8('   \n\n  '),
    ];
    for (const bytes of refused) expect(await detectFormat(bytes)).toBeNull();
  });

  it('tells prose with commas from CSV', async () => {
    const prose = strToU8('The Supplier, acting in good faith, shall deliver.\nPayment, once invoiced, is due in thirty days, net.\nNotices go to the address above.\n');
    expect((await detectFormat(prose))?.format).toBe('txt');
  });

  it('lists the supported MIME types and maps aliases', () => {
    expect(SUPPORTED_MIME_TYPES).toHaveLength(8);
    expect(SUPPORTED_MIME_TYPES).toContain('application/pdf');
    expect(formatOfMime('text/csv; charset=utf-8')).toBe('csv');
    expect(formatOfMime('image/tif')).toBe('tiff');
    expect(formatOfMime('application/msword')).toBeNull();
  });
});
