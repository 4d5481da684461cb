import type { DocumentBuilder } from './document-builder';
import { addTextBlocks } from './text-blocks';

/**
 * The OCR port. The parser hands over pixels or an encoded image and gets text back; the Node
 * adapter (shared/node/ocr.ts) runs tesseract.js with the shipped English model, offline.
 */
export interface RasterImage {
  width: number;
  height: number;
  /** 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGBA; 8 bits per sample, rows packed. */
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

export type OcrInput = { kind: 'png'; bytes: Uint8Array } | { kind: 'raster'; image: RasterImage };

export interface OcrOutput {
  text: string;
  /** Mean word confidence, 0–100. */
  confidence: number;
}

export interface OcrEngine {
  /** Rejects with OcrImageError when the image cannot be read, ParseUnavailableError when the engine cannot run. */
  recognize(input: OcrInput): Promise<OcrOutput>;
}

/** The engine could not decode this image (a property of the file, not of the engine). */
export class OcrImageError extends Error {
  constructor(message = 'The image could not be decoded for OCR.') {
    super(message);
    this.name = 'OcrImageError';
  }
}

/**
 * Flattens to 8-bit grey on a white background. Text recognition needs no colour, grey PNGs are
 * a third the size to encode, and transparent pixels (often stored as black) would otherwise
 * hide black text.
 */
export function toGreyscale(image: RasterImage): RasterImage {
  if (image.channels === 1) return image;
  const pixels = image.width * image.height;
  const grey = new Uint8Array(pixels);
  const src = image.data;
  const c = image.channels;
  for (let i = 0, s = 0; i < pixels; i++, s += c) {
    let value: number;
    let alpha = 255;
    if (c === 2) {
      value = src[s];
      alpha = src[s + 1];
    } else {
      // ITU-R BT.601 luma, integer weights summing to 1024.
      value = (src[s] * 306 + src[s + 1] * 601 + src[s + 2] * 117) >> 10;
      if (c === 4) alpha = src[s + 3];
    }
    grey[i] = alpha === 255 ? value : (value * alpha + 255 * (255 - alpha) + 127) / 255;
  }
  return { width: image.width, height: image.height, channels: 1, data: grey };
}

/** Adds recognised text as OCR elements and records the page's confidence. */
export function addOcrText(builder: DocumentBuilder, output: OcrOutput): number {
  const before = builder.elementCount;
  builder.setPageConfidence(output.confidence);
  addTextBlocks(builder, output.text, 'ocr');
  return builder.elementCount - before;
}
