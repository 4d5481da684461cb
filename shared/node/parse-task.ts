import type { ParseLimits } from '../parse/limits';
import { parseDocument, preloadParsers } from '../parse/parse-document';
import type { ParsedDocument, ParseFailureCode } from '../parse/types';
import { ParseError, ParseUnavailableError } from '../parse/types';
import type { ClosableOcrEngine } from './ocr';
import { createTesseractOcr } from './ocr';

/**
 * What runs inside a parse worker thread (loaded by parse-worker.mjs). Results travel back as
 * plain data: structured clone keeps an Error's message but not its class or `code`.
 */
export interface ParseTask {
  /** `ping` loads the worker and every format's parser (not OCR), to warm a pool up. */
  kind: 'parse' | 'ping';
  bytes: Uint8Array;
  docId: string;
  sha256: string;
  mime: string;
  limits?: Partial<ParseLimits>;
}

export type ParseTaskResult =
  | { ok: true; document: ParsedDocument }
  | { ok: false; failure: 'parse'; code: ParseFailureCode; message: string }
  | { ok: false; failure: 'unavailable'; message: string };

// One OCR engine per worker thread, started on first need and reused by later tasks; it ends
// with the thread.
let ocr: ClosableOcrEngine | null = null;

export async function runParseTask(task: ParseTask): Promise<ParseTaskResult | 'pong'> {
  if (task.kind === 'ping') {
    await preloadParsers();
    return 'pong';
  }
  ocr ??= createTesseractOcr();
  try {
    const document = await parseDocument(task.bytes, {
      docId: task.docId,
      sha256: task.sha256,
      mime: task.mime,
      ocr,
      limits: task.limits,
    });
    return { ok: true, document };
  } catch (error) {
    if (error instanceof ParseError) return { ok: false, failure: 'parse', code: error.code, message: error.message };
    if (error instanceof ParseUnavailableError) return { ok: false, failure: 'unavailable', message: error.message };
    return { ok: false, failure: 'unavailable', message: 'The parser failed unexpectedly.' };
  }
}
