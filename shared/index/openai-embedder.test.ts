import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EmbedderError, OpenAiEmbedder } from './openai-embedder';

/**
 * A wire-level double of OpenAI's embeddings endpoint (POST /v1/embeddings), checking what the API
 * reference documents: Bearer auth, JSON body `{ model, input, encoding_format?, dimensions?, user? }`
 * with no other keys, and answering `{ object: "list", data: [{ object: "embedding", index,
 * embedding }], model, usage }` or `{ error: { message, type, param, code } }`.
 */
const API_KEY = 'sk-test-frostbyte';
const NATIVE_DIMENSIONS = 8;

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

type Behaviour = (attempt: number) => { status: number; headers?: Record<string, string>; body: unknown; delayMs?: number } | undefined;

let server: ServerType;
let baseUrl: string;
let seen: Seen[] = [];
let behaviour: Behaviour = () => undefined;
let reverseOrder = false;
let wrongWidth = false;

function vectorFor(text: string, dimensions: number): number[] {
  let h = 7;
  for (const ch of text) h = (h * 31 + ch.charCodeAt(0)) % 1_000_003;
  return Array.from({ length: dimensions }, (_, i) => ((h + i * 17) % 11) - 5 + 0.5);
}

function openAiError(status: number, message: string, type: string, code: string | null) {
  return { status, body: { error: { message, type, param: null, code } } };
}

beforeAll(async () => {
  const app = new Hono();
  app.post('/v1/embeddings', async (c) => {
    const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
    seen.push({
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      authorization: c.req.header('authorization'),
      contentType: c.req.header('content-type'),
      body: body ?? {},
    });
    const scripted = behaviour(seen.length);
    if (scripted) {
      if (scripted.delayMs) await new Promise((r) => setTimeout(r, scripted.delayMs));
      return c.json(scripted.body as object, scripted.status as 200, scripted.headers);
    }
    if (c.req.header('authorization') !== `Bearer ${API_KEY}`) {
      const e = openAiError(401, 'Incorrect API key provided: sk-****. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', 'invalid_api_key');
      return c.json(e.body, 401);
    }
    if (!c.req.header('content-type')?.startsWith('application/json') || !body) {
      const e = openAiError(400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
      return c.json(e.body, 400);
    }
    const unknown = Object.keys(body).filter((k) => !['model', 'input', 'encoding_format', 'dimensions', 'user'].includes(k));
    if (unknown.length) return c.json(openAiError(400, `Unrecognized request argument supplied: ${unknown[0]}`, 'invalid_request_error', null).body, 400);
    const { model, input, encoding_format: format, dimensions } = body;
    const inputs = typeof input === 'string' ? [input] : input;
    if (typeof model !== 'string' || !Array.isArray(inputs) || inputs.length === 0 || inputs.length > 2048 || !inputs.every((s) => typeof s === 'string' && s.length > 0)) {
      return c.json(openAiError(400, "'$.input' is invalid.", 'invalid_request_error', null).body, 400);
    }
    if (format !== undefined && format !== 'float' && format !== 'base64') return c.json(openAiError(400, 'invalid encoding_format', 'invalid_request_error', null).body, 400);
    if (dimensions !== undefined && (!Number.isInteger(dimensions) || (dimensions as number) < 1)) {
      return c.json(openAiError(400, 'dimensions must be a positive integer', 'invalid_request_error', null).body, 400);
    }
    const width = (dimensions as number | undefined) ?? NATIVE_DIMENSIONS;
    const data = (inputs as string[]).map((text, index) => ({ object: 'embedding', index, embedding: vectorFor(text, wrongWidth ? width + 1 : width) }));
    if (reverseOrder) data.reverse();
    return c.json({ object: 'list', data, model, usage: { prompt_tokens: inputs.length * 3, total_tokens: inputs.length * 3 } });
  });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  // Keep-alive sockets would hold close() for seconds.
  (server as Server).closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen = [];
  behaviour = () => undefined;
  reverseOrder = false;
  wrongWidth = false;
});

const make = (extra: Partial<ConstructorParameters<typeof OpenAiEmbedder>[0]> = {}) =>
  new OpenAiEmbedder({ baseUrl, apiKey: API_KEY, model: 'text-embedding-3-small', dimensions: NATIVE_DIMENSIONS, backoffMs: 1, ...extra });

function unit(values: number[]): number[] {
  const norm = Math.hypot(...values);
  return values.map((v) => Math.fround(v / norm));
}

describe('OpenAiEmbedder against a wire-level double of the OpenAI embeddings API', () => {
  it('posts batches with Bearer auth and OpenAI request bodies, and returns unit vectors in input order', async () => {
    reverseOrder = true;
    const texts = Array.from({ length: 10 }, (_, i) => `clause number ${i}`);
    const vectors = await make({ batchSize: 4 }).embed(texts);

    expect(seen.map((s) => s.body.input)).toEqual([texts.slice(0, 4), texts.slice(4, 8), texts.slice(8)]);
    for (const s of seen) {
      expect(s).toMatchObject({ method: 'POST', path: '/v1/embeddings', authorization: `Bearer ${API_KEY}` });
      expect(s.contentType).toMatch(/^application\/json/);
      expect(s.body).toEqual({ model: 'text-embedding-3-small', input: s.body.input, encoding_format: 'float' });
    }
    expect(vectors.map((v) => Array.from(v))).toEqual(texts.map((t) => unit(vectorFor(t, NATIVE_DIMENSIONS))));
  });

  it('asks for the configured width when sendDimensions is set and records model and version', async () => {
    const embedder = make({ dimensions: 384, sendDimensions: true, version: '2024-01' });
    const [v] = await embedder.embed(['governing law']);
    expect(seen[0].body.dimensions).toBe(384);
    expect(v).toHaveLength(384);
    expect({ model: embedder.model, version: embedder.version, dimensions: embedder.dimensions }).toEqual({
      model: 'text-embedding-3-small',
      version: '2024-01',
      dimensions: 384,
    });
  });

  it('retries 429 and 5xx with backoff, honouring Retry-After, then succeeds', async () => {
    behaviour = (n) =>
      n === 1
        ? { ...openAiError(429, 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded'), headers: { 'retry-after': '0' } }
        : n === 2
          ? openAiError(503, 'The server is overloaded or not ready yet.', 'server_error', null)
          : undefined;
    const sleeps: number[] = [];
    const vectors = await make({ sleep: async (ms) => void sleeps.push(ms) }).embed(['a', 'b']);
    expect(vectors).toHaveLength(2);
    expect(seen).toHaveLength(3);
    expect(sleeps).toEqual([0, 2]); // Retry-After: 0, then the doubled backoff (1 ms → 2 ms)
  });

  it('gives up after maxRetries with a retryable EMBEDDER_UNAVAILABLE', async () => {
    behaviour = () => openAiError(500, 'The server had an error while processing your request.', 'server_error', null);
    const err = await make({ maxRetries: 2 }).embed(['x']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmbedderError);
    expect(err).toMatchObject({ code: 'EMBEDDER_UNAVAILABLE', retryable: true, status: 500 });
    expect((err as Error).message).toMatch(/answered 500: The server had an error.*after 3 attempts/);
    expect(seen).toHaveLength(3);
  });

  it('does not retry a rejected request and shows the provider message', async () => {
    const err = await make({ apiKey: 'sk-wrong' }).embed(['x']).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EMBEDDER_REJECTED', retryable: false, status: 401 });
    expect((err as Error).message).toMatch(/answered 401: Incorrect API key provided/);
    expect((err as Error).message).not.toContain('sk-wrong');
    expect(seen).toHaveLength(1);
  });

  it('times out a request that does not answer, and retries it', async () => {
    behaviour = () => ({ status: 200, body: {}, delayMs: 400 });
    const err = await make({ timeoutMs: 50, maxRetries: 1 }).embed(['x']).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EMBEDDER_UNAVAILABLE', retryable: true });
    expect((err as Error).message).toMatch(/did not answer within 50 ms/);
    expect(seen).toHaveLength(2);
  });

  it('fails without retrying when the provider returns vectors of another width', async () => {
    wrongWidth = true;
    const err = await make().embed(['x']).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EMBEDDER_BAD_RESPONSE', retryable: false });
    expect((err as Error).message).toMatch(/has 9 dimensions, expected 8/);
    expect(seen).toHaveLength(1);
  });

  it('fails on a zero vector instead of storing it', async () => {
    behaviour = () => ({ status: 200, body: { object: 'list', data: [{ object: 'embedding', index: 0, embedding: new Array(NATIVE_DIMENSIONS).fill(0) }], model: 'm' } });
    await expect(make().embed(['x'])).rejects.toMatchObject({ code: 'EMBEDDER_BAD_RESPONSE', message: expect.stringMatching(/zero vector/) });
  });

  it('reports an unreachable provider as retryable', async () => {
    const closed = new OpenAiEmbedder({ baseUrl: 'http://127.0.0.1:1/v1', model: 'm', dimensions: 8, maxRetries: 1, backoffMs: 1 });
    await expect(closed.embed(['x'])).rejects.toMatchObject({ code: 'EMBEDDER_UNAVAILABLE', retryable: true, message: expect.stringMatching(/unreachable/) });
  });

  it('sends nothing for an empty input list', async () => {
    expect(await make().embed([])).toEqual([]);
    expect(seen).toHaveLength(0);
  });
});
