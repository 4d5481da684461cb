import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { WebhookRequest, WebhookResponse, WebhookSender } from '../webhooks/ports';

/**
 * The Node sender: node:http(s) with the connection pinned to the addresses the destination check
 * vetted (a custom `lookup`), so a DNS answer that changes after the check cannot reach an
 * internal address. Never follows redirects (node:http does not), one deadline for the whole
 * attempt, at most `maxResponseBytes` of the answer read, no connection reuse between attempts.
 */
export function nodeWebhookSender(): WebhookSender {
  return { send };
}

function send(req: WebhookRequest): Promise<WebhookResponse> {
  return new Promise((resolve) => {
    const started = performance.now();
    const url = new URL(req.url);
    const body = Buffer.from(req.body, 'utf8');
    let settled = false;
    let statusCode: number | null = null;
    let location: string | null = null;
    const chunks: Buffer[] = [];
    let size = 0;

    const finish = (error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve({ statusCode, latencyMs: Math.round(performance.now() - started), body: Buffer.concat(chunks).toString('utf8'), location, error });
    };

    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      {
        method: 'POST',
        headers: { ...req.headers, 'content-length': String(body.length) },
        agent: false,
        ...(req.addresses?.length ? { lookup: pinnedLookup(req.addresses) } : {}),
      },
      (res: IncomingMessage) => {
        statusCode = res.statusCode ?? null;
        const loc = res.headers.location;
        location = typeof loc === 'string' ? loc.slice(0, 500) : null;
        res.on('data', (chunk: Buffer) => {
          const take = chunk.subarray(0, req.maxResponseBytes - size);
          chunks.push(take);
          size += take.length;
          // Enough for the log: stop reading, drop the connection.
          if (size >= req.maxResponseBytes) finish(null);
        });
        res.on('end', () => finish(null));
        res.on('error', () => finish(null));
      },
    );
    // An answer whose status arrived counts by its status even if its body stalls past the deadline.
    const timer = setTimeout(() => finish(statusCode === null ? `timed out after ${req.timeoutMs} ms` : null), req.timeoutMs);
    request.on('error', (e: NodeJS.ErrnoException) => finish(statusCode === null ? `${e.code ? `${e.code}: ` : ''}${e.message}`.slice(0, 500) : null));
    request.end(body);
  });
}

/** A `lookup` that answers with the vetted addresses instead of asking DNS again. */
function pinnedLookup(addresses: string[]): LookupFunction {
  const all = addresses.map((address) => ({ address, family: isIP(address) }));
  return (_hostname, options, callback) => {
    const wanted = options.family === 4 || options.family === 6 ? all.filter((a) => a.family === options.family) : all;
    if (wanted.length === 0) {
      callback(Object.assign(new Error('no vetted address of the requested family'), { code: 'ENOTFOUND' }), '', undefined);
      return;
    }
    if (options.all) callback(null, wanted);
    else callback(null, wanted[0].address, wanted[0].family);
  };
}
