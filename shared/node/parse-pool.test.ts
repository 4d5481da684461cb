import { strToU8 } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DOCX_TEXT,
  FIXTURE_TEXT,
  makeDocx,
  makeEncryptedPdf,
  makeXlsx,
  makeScannedPdf,
  makeTruncatedPdf,
  makeTxt,
  makeZipBomb,
  readFixture,
} from '../../tests/fixtures/build';
import { expectRealOffsets } from '../../tests/fixtures/expect-parsed';
import { ParseError, ParseUnavailableError } from '../parse/types';
import type { ParsePool } from './parse-pool';
import { createParsePool, runLocalParse } from './parse-pool';
import { samplePdf } from './sample-pdf';
import canonicalize from 'canonicalize';
import { sha256Hex } from '../hash';
import { parseDocument } from '../parse/parse-document';

const META = { docId: 'doc_pool', sha256: 'c'.repeat(64), mime: 'application/pdf' };

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('parse pool with the production worker', () => {
  let pool: ParsePool;
  beforeAll(async () => {
    pool = createParsePool({ threads: 2 });
    await pool.warm();
  });
  afterAll(() => pool.close());

  it('warms every thread up by parsing the sample PDF, and parses real documents after', async () => {
    // Two threads, eight parses each of the four-page sample.
    expect(await pool.warmUp()).toBe(2 * 8 * 4);
    const doc = await pool.parse(makeDocx(), META);
    expect(doc.elements[0]).toMatchObject({ type: 'heading', level: 1, text: DOCX_TEXT.title });
  });

  it('returns the canonical JSON (RFC 8785) of the document it parsed, and its SHA-256', async () => {
    const { document, canonical } = await pool.parseCanonical(samplePdf(2), META);
    expect(canonical.json).toBe(canonicalize(document));
    expect(canonical.sha256).toBe(await sha256Hex(canonical.json));
    expect(JSON.parse(canonical.json)).toEqual(document);
  });

  it('parses in a worker thread and returns the canonical document', async () => {
    const doc = await pool.parse(makeDocx(), META);
    expectRealOffsets(doc);
    expect(doc.doc_id).toBe('doc_pool');
    expect(doc.elements[0]).toMatchObject({ type: 'heading', level: 1, text: DOCX_TEXT.title });
  });

  it('rethrows each failure code and message from the worker as a ParseError', async () => {
    const cases: [Uint8Array, string][] = [
      [makeEncryptedPdf(), 'ENCRYPTED_PDF'],
      [await makeTruncatedPdf(), 'FILE_CORRUPTED'],
      [makeZipBomb(), 'RESOURCE_LIMIT'],
      [Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]), 'UNSUPPORTED_CONTENT'],
    ];
    for (const [bytes, code] of cases) {
      const error = await rejectionOf(pool.parse(bytes, META));
      expect(error, code).toBeInstanceOf(ParseError);
      expect((error as ParseError).code).toBe(code);
      expect((error as ParseError).message).not.toMatch(/\bat .*:\d+/); // no stack frames
    }
    expect(((await rejectionOf(pool.parse(makeEncryptedPdf(), META))) as ParseError).message).toBe('The PDF is password-protected.');
  });

  it('OCRs a scanned PDF page inside the worker (tesseract nested in the thread)', async () => {
    const doc = await pool.parse(await makeScannedPdf(), META);
    expect(doc.full_text).toContain(FIXTURE_TEXT.scanSentence);
    expect(doc.pages[0].ocr_confidence).toBeGreaterThan(80);
  });

  it('keeps the caller\'s event loop free while it parses', async () => {
    // exceljs loads a workbook in long synchronous stretches: in the calling thread this file
    // stalls the event loop for ~0.5 s at a time; through the pool only the result's copy-back
    // shows.
    const xlsx = await makeXlsx({ ledgerRows: 40_000 });
    await pool.parse(xlsx, META); // load exceljs in the thread first
    let worstLag = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      worstLag = Math.max(worstLag, now - last - 5);
      last = now;
    }, 5);
    const started = performance.now();
    const doc = await pool.parse(xlsx, META);
    const elapsed = performance.now() - started;
    clearInterval(ticker);
    expect(doc.elements.filter((e) => e.type === 'table').length).toBeGreaterThan(200);
    expect(elapsed).toBeGreaterThan(300); // there was real work to hide
    expect(worstLag).toBeLessThan(150);
  });

  it('queues jobs beyond the thread count and completes them all', async () => {
    const jobs = Array.from({ length: 5 }, (_, i) => pool.parse(makeTxt(`Notice ${i}\n\nThe tenant pays on the first day.`), { ...META, docId: `doc_${i}` }));
    expect(pool.queued).toBe(3);
    const docs = await Promise.all(jobs);
    expect(docs.map((d) => d.doc_id)).toEqual(['doc_0', 'doc_1', 'doc_2', 'doc_3', 'doc_4']);
    expect(pool.queued).toBe(0);
  });
});

describe('parse pool under a misbehaving worker', () => {
  // Wraps the real worker: "CRASH…" exits the thread, "SPIN…" never returns, "HOG…" fills the heap.
  let pool: ParsePool;
  beforeAll(async () => {
    pool = createParsePool({
      threads: 1,
      timeoutMs: 2_000,
      maxMemoryMb: 128,
      workerFile: new URL('../../tests/fixtures/crashing-parse-worker.mjs', import.meta.url),
    });
    await pool.warm();
  });
  afterAll(() => pool.close());

  const stillServes = async (): Promise<void> => {
    const doc = await pool.parse(makeTxt(), META);
    expect(doc.elements[0].text).toBe('TERMS OF SERVICE');
  };

  it('answers PARSE_TIMEOUT for a job past its time bound, terminates it and keeps serving', async () => {
    const started = performance.now();
    const error = await rejectionOf(pool.parse(strToU8('SPIN'), META));
    expect(error).toBeInstanceOf(ParseError);
    expect((error as ParseError).code).toBe('PARSE_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(4_000);
    await stillServes();
  });

  it('answers RESOURCE_LIMIT for a job past its heap bound and keeps serving', async () => {
    const error = await rejectionOf(pool.parse(strToU8('HOG'), META));
    expect(error).toBeInstanceOf(ParseError);
    expect((error as ParseError).code).toBe('RESOURCE_LIMIT');
    await stillServes();
  });

  it('answers ParseUnavailableError (retry, not a file failure) when the thread dies, and keeps serving', async () => {
    const error = await rejectionOf(pool.parse(strToU8('CRASH'), META));
    expect(error).toBeInstanceOf(ParseUnavailableError);
    await stillServes();
  });

  it('refuses new work once closed', async () => {
    const closing = createParsePool({ threads: 1 });
    await closing.close();
    expect(await rejectionOf(closing.parse(makeTxt(), META))).toBeInstanceOf(ParseUnavailableError);
  });
});

describe('runLocalParse (frostbyte parse)', () => {
  it('prints the summary the pipeline would see', async () => {
    const outcome = await runLocalParse(readFixture('ocr-sentence.png'), 'scan.png');
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.summary).toContain('file:       scan.png (3854 bytes, sha256 ');
    expect(outcome.summary).toContain('format:     png (image/png)');
    expect(outcome.summary).toMatch(/pages: {6}1 \(OCR on 1, mean confidence \d+\)/);
    expect(outcome.document.full_text).toBe(FIXTURE_TEXT.ocrSentence);
  });

  it('gives the reason code the pipeline would record', async () => {
    const encrypted = await runLocalParse(makeEncryptedPdf(), 'locked.pdf');
    expect(encrypted).toMatchObject({ ok: false, stage: 'parse', code: 'ENCRYPTED_PDF', retryable: false });
    const jpeg = await runLocalParse(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0]), 'photo.pdf');
    expect(jpeg).toMatchObject({ ok: false, stage: 'intake', code: 'UNSUPPORTED_FORMAT' });
  });
});

describe('the warm-up sample PDF', () => {
  it('is a well-formed PDF whose every page yields its heading and clauses', async () => {
    const doc = await parseDocument(samplePdf(3), { docId: 'doc_sample', sha256: '0'.repeat(64), mime: 'application/pdf', ocr: undefined });
    expect(doc.pages).toHaveLength(3);
    expect(doc.warnings).toEqual([]);
    expectRealOffsets(doc);
    for (const n of [1, 2, 3]) {
      expect(doc.full_text).toContain(`Section ${n}. Services and payment`);
      expect(doc.full_text).toContain(`${n}.30 The supplier delivers the services described in schedule 30`);
    }
  });
});
