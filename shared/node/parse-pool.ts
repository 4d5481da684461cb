import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { detectFormat, SNIFF_BYTES } from '../parse/detect-format';
import type { ParseLimits } from '../parse/limits';
import { summarizeParse } from '../parse/summarize';
import type { ParsedDocument } from '../parse/types';
import { ParseError, ParseUnavailableError } from '../parse/types';
import type { ParseTask, ParseTaskResult } from './parse-task';
import type { CanonicalDocument } from '../pipeline/ports';

/**
 * Parsing and OCR off the HTTP event loop (DESIGN §3): a Piscina worker-thread pool sized to the
 * cores, one job per thread at a time, each job bounded in time (→ PARSE_TIMEOUT, the thread is
 * terminated and replaced) and in heap (→ RESOURCE_LIMIT, Node stops the thread). A file that
 * crashes or wedges a thread never takes the process down; the pool keeps serving.
 */
export interface ParsePoolOptions {
  /** Worker threads. Default: the machine's available parallelism. */
  threads?: number;
  /**
   * Wall time one parse may take once it has a thread, in ms. Default 300,000 (5 min: the parse
   * p95 alert threshold; ~100 OCR'd pages).
   */
  timeoutMs?: number;
  /**
   * V8 old-generation heap per worker thread, in MB. Default 1,536. Best-effort in Node: see
   * shared/parse/limits.ts for why the parser's own input limits keep jobs well below it.
   */
  maxMemoryMb?: number;
  /** Parser limits (pages, OCR pages, zip sizes…), passed to every job. */
  limits?: Partial<ParseLimits>;
  /** The worker entry; tests point it at a wrapper that can crash on demand. */
  workerFile?: string | URL;
}

export interface ParseMeta {
  docId: string;
  sha256: string;
  mime: string;
  /** Cancels the job (shutdown); answered with ParseUnavailableError, not a file failure. */
  signal?: AbortSignal;
}

export interface ParsePool {
  /** Rejects with ParseError (the file's fault, permanent) or ParseUnavailableError (retry). */
  parse(bytes: Uint8Array, meta: ParseMeta): Promise<ParsedDocument>;
  /** The same, with the canonical JSON and its SHA-256 made in the worker thread. */
  parseCanonical(bytes: Uint8Array, meta: ParseMeta): Promise<{ document: ParsedDocument; canonical: CanonicalDocument }>;
  /** Starts every thread and loads the parser in it, so the first jobs do not pay for it. */
  warm(): Promise<void>;
  /**
   * Has every thread parse a sample PDF a few times (about half a core-second each), so V8 has
   * compiled PDF.js's text path before the first real document: a server's first batch then runs
   * as fast as later ones. Jobs that arrive meanwhile wait their turn like any other. Resolves
   * with the number of sample pages parsed, all threads together.
   */
  warmUp(): Promise<number>;
  /** Jobs waiting for a free thread. */
  readonly queued: number;
  close(): Promise<void>;
}

export const DEFAULT_PARSE_TIMEOUT_MS = 300_000;
export const DEFAULT_PARSE_MEMORY_MB = 1536;

const DEFAULT_WORKER_FILE = new URL('./parse-worker.mjs', import.meta.url);

export function createParsePool(options: ParsePoolOptions = {}): ParsePool {
  const threads = Math.max(1, options.threads ?? availableParallelism());
  const timeoutMs = options.timeoutMs ?? DEFAULT_PARSE_TIMEOUT_MS;
  const maxMemoryMb = options.maxMemoryMb ?? DEFAULT_PARSE_MEMORY_MB;
  const workerFile = options.workerFile ?? DEFAULT_WORKER_FILE;
  const piscina = new Piscina({
    filename: workerFile instanceof URL ? workerFile.href : workerFile,
    minThreads: threads,
    maxThreads: threads,
    // Keep threads (and the OCR engine each one holds) alive between jobs.
    idleTimeout: Infinity,
    resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb },
  });
  // Piscina reports a failure with no job attached (a thread dying while idle) as an 'error'
  // event; unheard, that would crash the process. The thread is replaced either way.
  piscina.on('error', () => undefined);

  // Jobs reach Piscina only when a thread is free, so the time bound measures the parse itself
  // and not the wait in line.
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = async (): Promise<void> => {
    if (running < threads) {
      running++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };

  let closed = false;

  const parseCanonical = async (bytes: Uint8Array, meta: ParseMeta): Promise<{ document: ParsedDocument; canonical: CanonicalDocument }> => {
    if (closed) throw new ParseUnavailableError('The parser pool is closed.');
    await acquire();
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = meta.signal ? AbortSignal.any([timeout, meta.signal]) : timeout;
    const task: ParseTask = { kind: 'parse', bytes, docId: meta.docId, sha256: meta.sha256, mime: meta.mime, limits: options.limits };
    let result: ParseTaskResult;
    try {
      if (signal.aborted) throw new Error('aborted before start');
      result = (await piscina.run(task, { signal })) as ParseTaskResult;
    } catch (error) {
      if (timeout.aborted) throw new ParseError('PARSE_TIMEOUT', `Parsing took longer than ${Math.round(timeoutMs / 1000)} s.`);
      if (meta.signal?.aborted) throw new ParseUnavailableError('Parsing was cancelled.');
      if ((error as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        throw new ParseError('RESOURCE_LIMIT', `Parsing needed more than ${maxMemoryMb} MB of memory.`);
      }
      throw new ParseUnavailableError('The parser worker stopped unexpectedly.');
    } finally {
      release();
    }
    if (result.ok) return { document: result.document, canonical: result.canonical };
    if (result.failure === 'parse') throw new ParseError(result.code, result.message);
    throw new ParseUnavailableError(result.message);
  };

  return {
    get queued() {
      return waiting.length;
    },
    parse: async (bytes, meta) => (await parseCanonical(bytes, meta)).document,
    parseCanonical,
    async warm() {
      const ping: ParseTask = { kind: 'ping', bytes: new Uint8Array(0), docId: '', sha256: '', mime: '' };
      await Promise.all(Array.from({ length: threads }, () => piscina.run(ping)));
    },
    async warmUp() {
      const task: ParseTask = { kind: 'warm', bytes: new Uint8Array(0), docId: '', sha256: '', mime: '' };
      // Through acquire/release, so real jobs queue behind the warm-up instead of crowding it.
      const warmed = await Promise.all(Array.from({ length: threads }, async () => {
        await acquire();
        try {
          return ((await piscina.run(task)) as { warmedPages: number }).warmedPages;
        } finally {
          release();
        }
      }));
      return warmed.reduce((sum, pages) => sum + pages, 0);
    },
    async close() {
      closed = true;
      await piscina.destroy();
    },
  };
}

export type LocalParseOutcome =
  | { ok: true; filename: string; summary: string; document: ParsedDocument; durationMs: number }
  | {
      ok: false;
      filename: string;
      /** `intake` when the upload itself would be rejected, `parse` for the parse step's failure. */
      stage: 'intake' | 'parse';
      /** The reason code the pipeline records: UNSUPPORTED_FORMAT at intake, else a ParseFailureCode. */
      code: string;
      message: string;
      /** True when the pipeline would retry rather than record a failure. */
      retryable: boolean;
      durationMs: number;
    };

/**
 * `frostbyte parse <path>`: the production parser on a local file, through the same worker pool,
 * time and memory bounds, so the outcome is the one the pipeline would record. Pass the same
 * pool options the server is configured with.
 */
export async function runLocalParse(bytes: Uint8Array, filename: string, options: ParsePoolOptions = {}): Promise<LocalParseOutcome> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  // Intake sniffs only the prefix of a streaming upload; do exactly the same.
  const detected = await detectFormat(bytes.subarray(0, SNIFF_BYTES));
  if (!detected) {
    return {
      ok: false,
      filename,
      stage: 'intake',
      code: 'UNSUPPORTED_FORMAT',
      message: 'The file is not in a format Frostbyte accepts; intake would reject it.',
      retryable: false,
      durationMs: elapsed(),
    };
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const pool = createParsePool({ threads: 1, ...options });
  try {
    const document = await pool.parse(bytes, { docId: 'doc_local', sha256, mime: detected.mime });
    const summary = [`file:       ${filename} (${bytes.length} bytes, sha256 ${sha256})`, summarizeParse(document), `time:       ${elapsed()} ms`].join('\n');
    return { ok: true, filename, summary, document, durationMs: elapsed() };
  } catch (error) {
    if (error instanceof ParseError) {
      return { ok: false, filename, stage: 'parse', code: error.code, message: error.message, retryable: false, durationMs: elapsed() };
    }
    const message = error instanceof ParseUnavailableError ? error.message : 'The parser failed unexpectedly.';
    return { ok: false, filename, stage: 'parse', code: 'PARSER_UNAVAILABLE', message, retryable: true, durationMs: elapsed() };
  } finally {
    await pool.close();
  }
}
