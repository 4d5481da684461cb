import * as v from 'valibot';
import { BatchReceiptSchema, BatchStatusSchema, ProblemSchema, type BatchReceiptBody, type BatchStatusBody, type ProblemBody } from './api-schemas';

/** A non-2xx answer from the API, with its problem+json body when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: ProblemBody | null,
    readonly bodyText: string,
  ) {
    super(problem ? `${problem.status} ${problem.code}: ${problem.detail}` : `HTTP ${status}: ${bodyText.slice(0, 300) || '(empty body)'}`);
    this.name = 'ApiError';
  }
  get code(): string | null {
    return this.problem?.code ?? null;
  }
}

/**
 * The base URL a vendor was given (`https://acme-corp.pipeline.frostbyte.io`, with or without
 * `/api/v1` and a trailing slash) as the API root.
 */
export function apiRoot(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--url ${JSON.stringify(url)} is not a URL (expected e.g. https://acme-corp.pipeline.frostbyte.io)`);
  }
  const path = u.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return `${u.origin}${path}/api/v1`;
}

/**
 * The claims of a Frostbyte token, read without verifying it (the server verifies). Used only to
 * default the tenant and to say early that a token has expired.
 */
export function readTokenClaims(token: string): { tenant_id?: string | null; scopes?: string[]; exp?: number; sub?: string } | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const b64 = payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '=');
    const json = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))) as unknown;
    return typeof json === 'object' && json !== null ? (json as { tenant_id?: string | null; scopes?: string[]; exp?: number; sub?: string }) : null;
  } catch {
    return null;
  }
}

export interface ClientOptions {
  url: string;
  token: string;
  tenantId: string;
  fetch?: typeof fetch;
  /** Sent as User-Agent, so support can tell CLI traffic in logs. */
  userAgent?: string;
}

/** The vendor API over HTTP: what the CLI (and any script) needs. Runtime-agnostic: only fetch. */
export class VendorClient {
  readonly root: string;
  private readonly doFetch: typeof fetch;
  constructor(private readonly opts: ClientOptions) {
    this.root = apiRoot(opts.url);
    this.doFetch = opts.fetch ?? fetch;
  }

  get tenantId() {
    return this.opts.tenantId;
  }

  private headers(extra: Record<string, string> = {}) {
    return { authorization: `Bearer ${this.opts.token}`, 'user-agent': this.opts.userAgent ?? 'frostbyte-cli', ...extra };
  }

  private tenantPath(suffix: string) {
    return `${this.root}/ingest/${encodeURIComponent(this.opts.tenantId)}${suffix}`;
  }

  async getBatch(batchId: string): Promise<BatchStatusBody> {
    const res = await this.doFetch(this.tenantPath(`/batch/${encodeURIComponent(batchId)}`), { headers: this.headers() });
    return parseBody(res, BatchStatusSchema);
  }

  /** The batch, or null when the tenant has none with this id (any other failure throws). */
  async findBatch(batchId: string): Promise<BatchStatusBody | null> {
    try {
      return await this.getBatch(batchId);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }

  async getReportMarkdown(batchId: string): Promise<string> {
    const res = await this.doFetch(this.tenantPath(`/batch/${encodeURIComponent(batchId)}/report`), { headers: this.headers({ accept: 'text/markdown' }) });
    if (!res.ok) throw await apiErrorOf(res);
    return res.text();
  }

  /**
   * POSTs a multipart body that is already a stream (Content-Length known). Returns the receipt
   * and its JSON exactly as sent, so it can be kept verbatim.
   */
  async submitBatch(body: ReadableStream<Uint8Array>, contentType: string, contentLength: number, signal?: AbortSignal): Promise<{ receipt: BatchReceiptBody; raw: string; replayed: boolean }> {
    const init: RequestInit & { duplex: 'half' } = {
      method: 'POST',
      headers: this.headers({ 'content-type': contentType, 'content-length': String(contentLength), accept: 'application/json' }),
      body,
      // A stream body needs half duplex in fetch: the whole request is sent before the response is read.
      duplex: 'half',
      // Not 'follow' (the default): to be able to follow a redirect, fetch clones the request, which
      // tees the body stream, and the branch kept for the redirect buffers every byte sent — measured
      // on Node 20.20: a 1 GiB upload took 1.1 GB of memory, against a flat ~95 MB with 'error'. A
      // redirect could not resend a streamed body anyway.
      redirect: 'error',
      signal,
    };
    const res = await this.doFetch(this.tenantPath('/batch'), init);
    const raw = await res.text();
    if (!res.ok) throw apiErrorFromText(res.status, raw);
    return { receipt: parseJson(raw, BatchReceiptSchema, res.status), raw, replayed: res.headers.get('frostbyte-replayed') === 'true' };
  }
}

async function apiErrorOf(res: Response): Promise<ApiError> {
  return apiErrorFromText(res.status, await res.text().catch(() => ''));
}

function apiErrorFromText(status: number, text: string): ApiError {
  let problem: ProblemBody | null = null;
  try {
    const parsed = v.safeParse(ProblemSchema, JSON.parse(text));
    if (parsed.success) problem = parsed.output;
  } catch {
    problem = null;
  }
  return new ApiError(status, problem, text);
}

async function parseBody<T>(res: Response, schema: v.GenericSchema<unknown, T>): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw apiErrorFromText(res.status, text);
  return parseJson(text, schema, res.status);
}

function parseJson<T>(text: string, schema: v.GenericSchema<unknown, T>, status: number): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(status, null, `the server answered ${status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) {
    const where = parsed.issues.slice(0, 3).map((i) => `${v.getDotPath(i) ?? '(body)'}: ${i.message}`).join('; ');
    throw new ApiError(status, null, `the server's answer does not have the documented shape (${where}); is --url a Frostbyte API?`);
  }
  return parsed.output;
}
