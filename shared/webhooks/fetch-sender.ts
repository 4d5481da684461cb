import type { WebhookRequest, WebhookResponse, WebhookSender } from './ports';

/**
 * The runtime-neutral sender (Workers): `fetch` with `redirect: 'manual'`, one deadline for the
 * whole attempt, and at most `maxResponseBytes` of the answer read. It cannot pin addresses, so
 * `request.addresses` is ignored; the platform's egress rules stand in for the address check there.
 */
export function fetchWebhookSender(fetchImpl: typeof fetch = (input, init) => fetch(input, init)): WebhookSender {
  return {
    async send(req: WebhookRequest): Promise<WebhookResponse> {
      const started = performance.now();
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), req.timeoutMs);
      const elapsed = () => Math.round(performance.now() - started);
      let statusCode: number | null = null;
      let location: string | null = null;
      try {
        const res = await fetchImpl(req.url, { method: 'POST', headers: req.headers, body: req.body, redirect: 'manual', signal: controller.signal });
        statusCode = res.status;
        location = res.headers.get('location');
        const body = await readAtMost(res.body, req.maxResponseBytes);
        return { statusCode, latencyMs: elapsed(), body, location, error: null };
      } catch (e) {
        const timedOut = controller.signal.aborted;
        return {
          statusCode, latencyMs: elapsed(), body: '', location,
          // An answer whose status arrived counts by its status even if its body stalled.
          error: statusCode !== null ? null : timedOut ? `timed out after ${req.timeoutMs} ms` : describeFetchError(e),
        };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Reads up to `max` bytes of a body and cancels the rest. */
export async function readAtMost(body: ReadableStream<Uint8Array> | null, max: number): Promise<string> {
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = value.subarray(0, max - size);
      chunks.push(take);
      size += take.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return new TextDecoder().decode(all);
}

function describeFetchError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as Error & { cause?: unknown }).cause;
  const code = cause && typeof cause === 'object' && 'code' in cause ? String((cause as { code: unknown }).code) : null;
  return `${e.message}${code ? ` (${code})` : ''}`.slice(0, 500);
}
