import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { signLikeQstash } from '../../../shared/queue/signing';

/**
 * A local stand-in for QStash's publish API at the wire: `POST /v2/publish/{destination}` with
 * `Authorization: Bearer`, `Upstash-Deduplication-Id`, `Upstash-Retries`, `Upstash-Failure-Callback`
 * and `Upstash-Forward-*` headers; it answers `{messageId}` and then delivers the body to the
 * destination signed with `Upstash-Signature` (HS256, iss Upstash, sub = URL, body hash), retrying
 * non-2xx answers and finally calling the failure callback with QStash's callback body.
 */
export interface Published {
  destination: string;
  body: string;
  headers: Record<string, string>;
  messageId: string;
  deduplicated: boolean;
}
export interface Delivery {
  messageId: string;
  url: string;
  attempt: number;
  status: number;
}

export async function startQstashDouble(opts: { token: string; currentSigningKey: string; retryDelayMs?: number }) {
  const published: Published[] = [];
  const deliveries: Delivery[] = [];
  const seen = new Map<string, string>();
  let counter = 0;
  const inflight = new Set<Promise<void>>();

  async function deliver(messageId: string, url: string, body: string, headers: Record<string, string>, retries: number, failureCallback?: string) {
    let last: { status: number; body: string } = { status: 0, body: '' };
    for (let attempt = 0; attempt <= retries; attempt++) {
      const signature = await signLikeQstash(opts.currentSigningKey, url, body, new Date());
      try {
        const res = await fetch(url, { method: 'POST', body, headers: { ...headers, 'content-type': 'application/json', 'upstash-signature': signature, 'upstash-message-id': messageId, 'upstash-retried': String(attempt) } });
        last = { status: res.status, body: await res.text() };
      } catch (e) {
        last = { status: 0, body: e instanceof Error ? e.message : String(e) };
      }
      deliveries.push({ messageId, url, attempt, status: last.status });
      if (last.status >= 200 && last.status < 300) return;
      await new Promise((r) => setTimeout(r, (opts.retryDelayMs ?? 50) * 2 ** attempt));
    }
    if (!failureCallback) return;
    const cb = JSON.stringify({
      status: last.status, header: {}, body: btoa(last.body), retried: retries, maxRetries: retries, sourceMessageId: messageId,
      url, method: 'POST', sourceHeader: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])), sourceBody: btoa(body), notBefore: 0, createdAt: Date.now(),
    });
    await fetch(failureCallback, { method: 'POST', body: cb, headers: { 'content-type': 'application/json', 'upstash-signature': await signLikeQstash(opts.currentSigningKey, failureCallback, cb, new Date()) } }).catch(() => {});
  }

  const app = new Hono();
  app.post('/v2/publish/*', async (c) => {
    if (c.req.header('authorization') !== `Bearer ${opts.token}`) return c.json({ error: 'Unauthorized' }, 401);
    const destination = decodeURIComponent(c.req.path.slice('/v2/publish/'.length));
    if (!/^https?:\/\//.test(destination)) return c.json({ error: 'invalid destination url' }, 400);
    const body = await c.req.text();
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((v, k) => (headers[k] = v));
    const dedup = c.req.header('upstash-deduplication-id');
    const existing = dedup ? seen.get(dedup) : undefined;
    const messageId = existing ?? `msg_double_${++counter}`;
    published.push({ destination, body, headers, messageId, deduplicated: !!existing });
    if (existing) return c.json({ messageId, deduplicated: true }, 201);
    if (dedup) seen.set(dedup, messageId);
    const forward: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (k.startsWith('upstash-forward-')) forward[k.slice('upstash-forward-'.length)] = v;
    const retries = Number(c.req.header('upstash-retries') ?? '3');
    const p = deliver(messageId, destination, body, forward, retries, c.req.header('upstash-failure-callback')).finally(() => inflight.delete(p));
    inflight.add(p);
    return c.json({ messageId }, 201);
  });

  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    published,
    deliveries,
    async idle() {
      while (inflight.size) await Promise.all([...inflight]);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
