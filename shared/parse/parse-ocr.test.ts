import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURE_TEXT, makeScannedPdf, readFixture } from '../../tests/fixtures/build';
import { expectRealOffsets } from '../../tests/fixtures/expect-parsed';
import { createTesseractOcr } from '../node/ocr';
import { detectFormat } from './detect-format';
import { parseDocument } from './parse-document';
import type { ParseOptions } from './parse-document';
import type { ParsedDocument } from './types';
import { ParseError } from './types';

// One real tesseract.js engine (shipped English model, offline) for the whole file: starting
// one costs ~0.5 s, each small image 0.1–0.3 s.
const ocr = createTesseractOcr();
afterAll(() => ocr.close());

async function parse(bytes: Uint8Array, extra: Partial<ParseOptions> = {}): Promise<ParsedDocument> {
  const detected = await detectFormat(bytes);
  return parseDocument(bytes, { docId: 'doc_ocr', sha256: 'b'.repeat(64), mime: detected?.mime ?? '', ocr, ...extra });
}

/** OCR may differ in a character; compare on letters and digits only. */
const squash = (text: string): string => text.toUpperCase().replace(/[^A-Z0-9]/g, '');

describe('OCR through the parser (tesseract.js, offline)', () => {
  it('reads the sentence in a PNG', async () => {
    const doc = await parse(readFixture('ocr-sentence.png'));
    expectRealOffsets(doc);
    expect(doc.parser).toBe('tesseract.js 7.0.0');
    expect(doc.full_text).toBe(FIXTURE_TEXT.ocrSentence);
    expect(doc.elements.every((e) => e.source === 'ocr')).toBe(true);
    expect(doc.pages[0].ocr_confidence).toBeGreaterThan(80);
  });

  it('reads every page of a G4 TIFF, not just the first', async () => {
    const doc = await parse(readFixture('ocr-two-pages-g4.tiff'));
    expectRealOffsets(doc);
    expect(doc.pages).toHaveLength(2);
    const pageText = (n: number): string => doc.full_text.slice(doc.pages[n].start_char, doc.pages[n].end_char);
    // "IS" reads as "1S" on this bilevel image at times; the number and words around it do not.
    expect(squash(pageText(0))).toContain('INVOICENUMBER4471');
    expect(squash(pageText(1))).toBe(squash(FIXTURE_TEXT.tiffPage2));
    expect(doc.metadata.ocr_pages).toBe(2);
  });

  it('reads a Deflate TIFF, which Leptonica cannot decode itself, after converting it', async () => {
    const doc = await parse(readFixture('ocr-deflate.tiff'));
    expect(squash(doc.full_text)).toBe(squash(FIXTURE_TEXT.deflateTiff));
  });

  it('OCRs only the scanned page of a PDF and keeps the text layer of the other', async () => {
    const doc = await parse(await makeScannedPdf({ withTextPage: true }));
    expectRealOffsets(doc);
    const [scanned, typed] = doc.pages;
    expect(scanned.ocr_confidence).toBeGreaterThan(80);
    expect(typed.ocr_confidence).toBeUndefined();
    const page1 = doc.elements.filter((e) => e.page === 1);
    expect(page1[0]).toMatchObject({ type: 'heading', text: FIXTURE_TEXT.scanHeading, source: 'ocr' });
    expect(page1.map((e) => e.text).join(' ')).toContain(FIXTURE_TEXT.scanSentence);
    expect(doc.elements.find((e) => e.page === 2)).toMatchObject({ type: 'paragraph', text: 'This second page carries an ordinary text layer.' });
    expect(doc.metadata).toMatchObject({ ocr_pages: 1, page_count: 2 });
  });

  it('also OCRs a scan whose text layer is only a stamp', async () => {
    const doc = await parse(await makeScannedPdf({ stamp: 'Scanned 2024-05-02' }));
    expectRealOffsets(doc);
    expect(doc.full_text).toContain('Scanned 2024-05-02');
    expect(doc.full_text).toContain(FIXTURE_TEXT.scanSentence);
    expect(doc.pages[0].ocr_confidence).toBeGreaterThan(80);
  });

  it('turns a sideways scan upright by the page\'s /Rotate before OCR', async () => {
    const doc = await parse(await makeScannedPdf({ rotated: true }));
    expect(doc.full_text).toContain(FIXTURE_TEXT.scanSentence);
  });

  it('reads black text on a transparent background', async () => {
    const grey = PNG.sync.read(Buffer.from(readFixture('ocr-sentence.png')));
    const rgba = new PNG({ width: grey.width, height: grey.height });
    for (let i = 0; i < grey.width * grey.height; i++) {
      // All pixels black; only alpha draws the text (the background is fully transparent).
      rgba.data[i * 4 + 3] = 255 - grey.data[i * 4];
    }
    const doc = await parse(new Uint8Array(PNG.sync.write(rgba)));
    expect(squash(doc.full_text)).toBe(squash(FIXTURE_TEXT.ocrSentence));
  });

  it('fails an undecodable PNG with FILE_CORRUPTED and keeps the engine usable', async () => {
    const png = readFixture('ocr-sentence.png').slice();
    png.fill(0x41, 60); // keep signature and IHDR, wreck the image data
    const error = await parse(png).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParseError);
    expect((error as ParseError).code).toBe('FILE_CORRUPTED');
    const after = await parse(readFixture('ocr-sentence.png'));
    expect(after.full_text).toBe(FIXTURE_TEXT.ocrSentence);
  });

  it('answers RESOURCE_LIMIT for an image over the pixel limit without running OCR', async () => {
    const error = await parse(readFixture('ocr-sentence.png'), { limits: { maxImagePixels: 10_000 } }).catch((e: unknown) => e);
    expect((error as ParseError).code).toBe('RESOURCE_LIMIT');
    const tiff = await parse(readFixture('ocr-two-pages-g4.tiff'), { limits: { maxOcrPages: 1 } }).catch((e: unknown) => e);
    expect((tiff as ParseError).code).toBe('RESOURCE_LIMIT');
  });
});
