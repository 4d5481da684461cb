import type { Clock } from '../clock';
import { systemClock } from '../clock';
import type { Embedder } from './embedder';
import { normalize } from './embedder';

/**
 * OpenAI-compatible embeddings over HTTP (OpenAI, Ollama, vLLM, TEI, LiteLLM...): `POST
 * {baseUrl}/embeddings` with `{ model, input: string[], encoding_format: "float", dimensions? }`,
 * answered with `{ object: "list", data: [{ object: "embedding", index, embedding }], model, usage }`.
 * Only `fetch` and `AbortSignal.timeout`, so it runs on Node, Workers and Lambda alike.
 */
export interface OpenAiEmbedderOptions {
  /** Up to and including the version segment, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`; omitted for local servers that need none. */
  apiKey?: string;
  model: string;
  /** Recorded on chunks; bump it when the served weights change under the same model name. Default: `model`. */
  version?: string;
  /** Expected width of every vector; a response of another width fails (and is not retried). */
  dimensions: number;
  /** Ask the provider for `dimensions` (OpenAI text-embedding-3-*, to fit the 384-d HNSW column). Default false. */
  sendDimensions?: boolean;
  /** Inputs per request. Default 64 (OpenAI allows 2048, but small batches keep retries cheap). */
  batchSize?: number;
  /** Retries after the first attempt for 408/409/429/5xx, timeouts and network errors. Default 4. */
  maxRetries?: number;
  /** Per request, in ms. Default 30 000. */
  timeoutMs?: number;
  /** First backoff in ms, doubled each retry up to 8 s; a `Retry-After` answer wins (capped at 60 s). Default 500. */
  backoffMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** Reads the time for `Retry-After` given as an HTTP date. */
  clock?: Clock;
}

export type EmbedderErrorCode =
  /** The provider could not be reached or kept failing (retryable later). */
  | 'EMBEDDER_UNAVAILABLE'
  /** The provider refused the request (4xx other than 408/409/429): configuration or input. */
  | 'EMBEDDER_REJECTED'
  /** The answer does not fit the contract (count, width, numbers): never retried. */
  | 'EMBEDDER_BAD_RESPONSE';

export class EmbedderError extends Error {
  constructor(
    readonly code: EmbedderErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'EmbedderError';
  }
}

interface OpenAiEmbeddingResponse {
  data?: { index?: unknown; embedding?: unknown }[];
}

const RETRY_STATUSES = new Set([408, 409, 429, 500, 502, 503, 504]);
const MAX_BACKOFF_MS = 8_000;
const MAX_RETRY_AFTER_MS = 60_000;

export class OpenAiEmbedder implements Embedder {
  readonly model: string;
  readonly version: string;
  readonly dimensions: number;
  private readonly url: string;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: OpenAiEmbedderOptions) {
    if (!Number.isInteger(opts.dimensions) || opts.dimensions <= 0) throw new RangeError('dimensions must be a positive integer');
    this.model = opts.model;
    this.version = opts.version ?? opts.model;
    this.dimensions = opts.dimensions;
    this.url = `${opts.baseUrl.replace(/\/+$/, '')}/embeddings`;
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const batchSize = this.opts.batchSize ?? 64;
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += batchSize) out.push(...(await this.embedBatch(texts.slice(i, i + batchSize))));
    return out;
  }

  private async embedBatch(input: string[]): Promise<Float32Array[]> {
    const body = JSON.stringify({
      model: this.model,
      input,
      encoding_format: 'float',
      ...(this.opts.sendDimensions ? { dimensions: this.dimensions } : {}),
    });
    const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (this.opts.apiKey) headers.Authorization = `Bearer ${this.opts.apiKey}`;
    const maxRetries = this.opts.maxRetries ?? 4;
    let backoff = this.opts.backoffMs ?? 500;

    for (let attempt = 0; ; attempt++) {
      let failure: EmbedderError;
      let retryAfterMs: number | undefined;
      try {
        const res = await this.fetchFn(this.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        });
        if (res.ok) return this.parse(await res.json().catch(() => undefined), input.length);
        const detail = await providerMessage(res);
        const retryable = RETRY_STATUSES.has(res.status);
        failure = new EmbedderError(
          retryable ? 'EMBEDDER_UNAVAILABLE' : 'EMBEDDER_REJECTED',
          `embedding provider ${this.model} answered ${res.status}${detail ? `: ${detail}` : ''}`,
          retryable,
          res.status,
        );
        retryAfterMs = retryAfter(res.headers, (this.opts.clock ?? systemClock).now());
      } catch (err) {
        if (err instanceof EmbedderError) throw err;
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        failure = new EmbedderError(
          'EMBEDDER_UNAVAILABLE',
          timedOut
            ? `embedding provider ${this.model} did not answer within ${this.opts.timeoutMs ?? 30_000} ms`
            : `embedding provider ${this.model} unreachable: ${err instanceof Error ? err.message : String(err)}`,
          true,
        );
      }
      if (!failure.retryable || attempt >= maxRetries) {
        if (failure.retryable) failure.message += ` (after ${attempt + 1} attempts)`;
        throw failure;
      }
      await this.sleep(Math.min(retryAfterMs ?? backoff, MAX_RETRY_AFTER_MS));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  private parse(json: unknown, expected: number): Float32Array[] {
    const bad = (why: string) => new EmbedderError('EMBEDDER_BAD_RESPONSE', `embedding provider ${this.model}: ${why}`, false);
    const data = (json as OpenAiEmbeddingResponse | undefined)?.data;
    if (!Array.isArray(data)) throw bad('response has no data array');
    if (data.length !== expected) throw bad(`expected ${expected} embeddings, got ${data.length}`);
    const out = new Array<Float32Array | undefined>(expected);
    data.forEach((item, position) => {
      // `index` is the input position; providers may answer out of order.
      const index = typeof item.index === 'number' ? item.index : position;
      if (!Number.isInteger(index) || index < 0 || index >= expected || out[index]) throw bad(`invalid or repeated index ${String(item.index)}`);
      const values = item.embedding;
      if (!Array.isArray(values)) throw bad(`embedding ${index} is not a float array (encoding_format must be "float")`);
      if (values.length !== this.dimensions) throw bad(`embedding ${index} has ${values.length} dimensions, expected ${this.dimensions}`);
      if (!values.every((v) => typeof v === 'number' && Number.isFinite(v))) throw bad(`embedding ${index} holds non-finite numbers`);
      try {
        out[index] = normalize(Float32Array.from(values as number[]));
      } catch {
        throw bad(`embedding ${index} is a zero vector`);
      }
    });
    return out as Float32Array[];
  }
}

/** OpenAI's error shape is `{ error: { message, type, code } }`; others send text. Bounded, never the request. */
async function providerMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  let message = text;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const candidate = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
    if (typeof candidate === 'string') message = candidate;
  } catch {
    // not JSON: keep the text
  }
  return message.replace(/\s+/g, ' ').trim().slice(0, 300);
}

/** `retry-after-ms` (OpenAI, Azure) or `Retry-After` in seconds or as an HTTP date. */
function retryAfter(headers: Headers, now: Date): number | undefined {
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.has('retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (value.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now.getTime());
}
