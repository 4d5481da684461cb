import UTIF from 'utif2';
import type { DocumentBuilder } from './document-builder';
import type { ParseLimits } from './limits';
import type { OcrEngine, OcrOutput, RasterImage } from './ocr';
import { addOcrText, OcrImageError, toGreyscale } from './ocr';
import { ParseError } from './types';

export function requireOcr(ocr: OcrEngine | undefined): OcrEngine {
  if (!ocr) throw new ParseError('UNSUPPORTED_CONTENT', 'Images need OCR, which this deployment does not run.');
  return ocr;
}

function assertPixels(width: number, height: number, limits: ParseLimits, what: string): void {
  if (!(width > 0 && height > 0)) throw new ParseError('FILE_CORRUPTED', `The ${what} has no readable dimensions.`);
  if (width * height > limits.maxImagePixels) {
    throw new ParseError('RESOURCE_LIMIT', `The ${what} has more than ${limits.maxImagePixels} pixels.`);
  }
}

export async function recognizeOrFail(run: () => Promise<OcrOutput>): Promise<OcrOutput> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof OcrImageError) throw new ParseError('FILE_CORRUPTED', 'The image could not be decoded.');
    throw error;
  }
}

/** PNG: one page, OCR on the image as stored. */
export async function parsePng(bytes: Uint8Array, builder: DocumentBuilder, limits: ParseLimits, engine: OcrEngine | undefined): Promise<Record<string, number>> {
  const ocr = requireOcr(engine);
  if (bytes.length < 24) throw new ParseError('FILE_CORRUPTED', 'The image is truncated.');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16, false);
  const height = view.getUint32(20, false);
  assertPixels(width, height, limits, 'image');
  builder.beginPage(1);
  const output = await recognizeOrFail(() => ocr.recognize({ kind: 'png', bytes }));
  addOcrText(builder, output);
  builder.endPage();
  return { ocr_pages: 1, width, height };
}

/**
 * TIFF: every page decoded with utif2 (G3/G4, LZW, PackBits, Deflate, JPEG — Leptonica inside
 * tesseract reads only some of these, and only the first page) and OCR'd as grey pixels.
 */
export async function parseTiff(
  bytes: Uint8Array,
  builder: DocumentBuilder,
  limits: ParseLimits,
  engine: OcrEngine | undefined,
  warnings: string[],
): Promise<Record<string, number>> {
  const ocr = requireOcr(engine);
  const buffer = bytes.slice().buffer;
  let pages: UTIF.IFD[];
  try {
    pages = UTIF.decode(buffer).filter((ifd) => ifd.t256 !== undefined && ifd.t257 !== undefined);
  } catch {
    throw new ParseError('FILE_CORRUPTED', 'The TIFF image could not be read.');
  }
  if (pages.length === 0) throw new ParseError('FILE_CORRUPTED', 'The TIFF image holds no pages.');
  if (pages.length > limits.maxOcrPages) {
    throw new ParseError('RESOURCE_LIMIT', `The TIFF has ${pages.length} pages; OCR is limited to ${limits.maxOcrPages}.`);
  }
  let decoded = 0;
  for (let index = 0; index < pages.length; index++) {
    const ifd = pages[index];
    const width = Number((ifd.t256 as number[])[0]);
    const height = Number((ifd.t257 as number[])[0]);
    assertPixels(width, height, limits, `TIFF page ${index + 1}`);
    builder.beginPage(index + 1);
    let raster: RasterImage;
    try {
      UTIF.decodeImage(buffer, ifd);
      raster = toGreyscale({ width: ifd.width, height: ifd.height, channels: 4, data: UTIF.toRGBA8(ifd) });
    } catch {
      warnings.push(`Page ${index + 1} of the TIFF could not be decoded; it was skipped.`);
      builder.endPage();
      continue;
    }
    decoded++;
    const output = await recognizeOrFail(() => ocr.recognize({ kind: 'raster', image: raster }));
    if (addOcrText(builder, output) === 0) warnings.push(`OCR found no text on page ${index + 1}.`);
    builder.endPage();
  }
  if (decoded === 0) throw new ParseError('FILE_CORRUPTED', 'No page of the TIFF image could be decoded.');
  return { ocr_pages: decoded };
}
