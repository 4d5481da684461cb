import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { ParseLimits } from '../parse/limits';
import { parseDocument, preloadParsers } from '../parse/parse-document';
import type { ParsedDocument, ParseFailureCode } from '../parse/types';
import type { CanonicalDocument } from '../pipeline/ports';
import { ParseError, ParseUnavailableError } from '../parse/types';
import type { ClosableOcrEngine } from './ocr';
import { createTesseractOcr } from './ocr';
import { samplePdf } from './sample-pdf';

/** Parses of the sample PDF per thread when warming up: enough for V8 to optimise the text path. */
const WARM_PARSES = 8;

/**
 * What runs inside a parse worker thread (loaded by parse-worker.mjs). Results travel back as
 * plain data: structured clone keeps an Error's message but not its class or `code`.
 */
export interface ParseTask {
  /**
   * `ping` loads the worker and every format's parser (not OCR); `warm` parses a sample PDF a few
   * times, so PDF.js is compiled before the first real document.
   */
  kind: 'parse' | 'ping' | 'warm';
  bytes: Uint8Array;
  docId: string;
  sha256: string;
  mime: string;
  limits?: Partial<ParseLimits>;
}

export type ParseTaskResult =
  | { ok: true; document: ParsedDocument; canonical: CanonicalDocument }
  | { ok: false; failure: 'parse'; code: ParseFailureCode; message: string }
  | { ok: false; failure: 'unavailable'; message: string };

// One OCR engine per worker thread, started on first need and reused by later tasks; it ends
// with the thread.
let ocr: ClosableOcrEngine | null = null;

export async function runParseTask(task: ParseTask): Promise<ParseTaskResult | 'pong' | { warmedPages: number }> {
  if (task.kind === 'ping') {
    await preloadParsers();
    return 'pong';
  }
  if (task.kind === 'warm') {
    const sample = samplePdf();
    let pages = 0;
    for (let i = 0; i < WARM_PARSES; i++) pages += (await parseDocument(sample, { docId: 'doc_warm', sha256: '0'.repeat(64), mime: 'application/pdf', ocr: undefined })).pages.length;
    return { warmedPages: pages };
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
    // Serialised and hashed here, off the server's event loop: the parse step stores exactly this.
    const json = canonicalize(document) ?? '{}';
    return { ok: true, document, canonical: { json, sha256: createHash('sha256').update(json).digest('hex') } };
  } catch (error) {
    if (error instanceof ParseError) return { ok: false, failure: 'parse', code: error.code, message: error.message };
    if (error instanceof ParseUnavailableError) return { ok: false, failure: 'unavailable', message: error.message };
    return { ok: false, failure: 'unavailable', message: 'The parser failed unexpectedly.' };
  }
}
