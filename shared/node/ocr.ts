import { accessSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import { createWorker, OEM } from 'tesseract.js';
import type { Worker as TesseractWorker } from 'tesseract.js';
import type { OcrEngine, OcrInput, OcrOutput, RasterImage } from '../parse/ocr';
import { OcrImageError, toGreyscale } from '../parse/ocr';
import { ParseUnavailableError } from '../parse/types';

const require = createRequire(import.meta.url);

/**
 * The shipped English LSTM model (2.9 MB, `@tesseract.js-data/eng`). A local folder makes
 * tesseract.js read `${langPath}/eng.traineddata.gz` from disk and never the CDN.
 */
export const OCR_LANG_DIR = join(dirname(require.resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int');

export interface TesseractOcrOptions {
  /** Bound on starting the engine; a bad model path makes createWorker hang. Default 30 s. */
  initTimeoutMs?: number;
}

export interface ClosableOcrEngine extends OcrEngine {
  close(): Promise<void>;
}

/**
 * OCR with tesseract.js 7 on its own worker thread, fully offline (spec/recipes-clamav-ocr.md §2):
 * local langPath, gzip model, no cache file in the working directory, an errorHandler so a bad
 * image rejects instead of crashing the process, LSTM-only engine. The engine starts on first
 * use (≈0.5 s) and is reused; close() ends its thread.
 */
export function createTesseractOcr(options: TesseractOcrOptions = {}): ClosableOcrEngine {
  const initTimeoutMs = options.initTimeoutMs ?? 30_000;
  let starting: Promise<TesseractWorker> | null = null;

  const start = (): Promise<TesseractWorker> => {
    if (starting) return starting;
    starting = (async () => {
      try {
        accessSync(join(OCR_LANG_DIR, 'eng.traineddata.gz'));
      } catch {
        throw new ParseUnavailableError('The OCR language model is not installed.');
      }
      let fail: (error: Error) => void = () => {};
      const failed = new Promise<never>((_, reject) => {
        fail = reject;
      });
      failed.catch(() => undefined); // may settle after the race is decided
      let initializing = true;
      const timer = setTimeout(() => fail(new ParseUnavailableError('The OCR engine did not start in time.')), initTimeoutMs);
      try {
        return await Promise.race([
          createWorker('eng', OEM.LSTM_ONLY, {
            langPath: OCR_LANG_DIR,
            gzip: true,
            cacheMethod: 'none',
            // Required: without it a failed job throws from the worker's message handler and
            // takes the process down. After start-up, recognize() itself rejects (with a string).
            errorHandler: () => {
              if (initializing) fail(new ParseUnavailableError('The OCR engine failed to start.'));
            },
          }),
          failed,
        ]);
      } finally {
        initializing = false;
        clearTimeout(timer);
      }
    })();
    starting.catch(() => {
      starting = null;
    });
    return starting;
  };

  return {
    async recognize(input: OcrInput): Promise<OcrOutput> {
      const worker = await start();
      const image = toPngBuffer(input);
      try {
        const { data } = await worker.recognize(image);
        return { text: data.text, confidence: data.confidence };
      } catch {
        // tesseract rejects with Leptonica's message as a plain string ("read fail" etc.).
        throw new OcrImageError();
      }
    },
    async close(): Promise<void> {
      const pending = starting;
      starting = null;
      if (!pending) return;
      const worker = await pending.catch(() => null);
      await worker?.terminate().catch(() => undefined);
    },
  };
}

/** What tesseract gets: PNG bytes as uploaded (Leptonica decodes them, alpha included), rasters as 8-bit grey PNG. */
function toPngBuffer(input: OcrInput): Buffer {
  if (input.kind === 'raster') return encodeGreyPng(input.image);
  return Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength);
}

/** Encodes 8-bit grey pixels as a PNG; deflate level 1 because tesseract decodes it at once. */
export function encodeGreyPng(image: RasterImage): Buffer {
  const grey = toGreyscale(image);
  const png = new PNG({ width: grey.width, height: grey.height, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(grey.data.buffer, grey.data.byteOffset, grey.data.byteLength);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8, deflateLevel: 1 });
}
