import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context';
import { AppError, problemBody } from './errors';

export interface RequestSizeLimit {
  /** Largest body accepted, in bytes. */
  maxBytes: number;
  /** Where vendors send what is larger (the Node intake of the same deployment); named in the 413. */
  largeUploadUrl?: string;
}

/**
 * Answers an over-limit body with a 413 problem+json instead of letting the platform drop the
 * connection. A declared Content-Length is checked before a byte is read; a body without one
 * (chunked) is counted while it streams, and the request answers 413 as soon as the count
 * passes the limit, whatever the route made of the broken stream. Nothing is buffered.
 */
export function limitRequestSize(limit: RequestSizeLimit): MiddlewareHandler<AppEnv> {
  const tooLarge = (declared?: number) =>
    new AppError(
      'PAYLOAD_TOO_LARGE',
      `This endpoint accepts request bodies up to ${limit.maxBytes} bytes${declared === undefined ? '' : `; this one is ${declared} bytes`}. ` +
        (limit.largeUploadUrl
          ? `Send larger batches to the large-file intake at ${limit.largeUploadUrl} (same API, same token), or split the batch.`
          : 'Split the batch into smaller ones.'),
      { max_request_bytes: limit.maxBytes, ...(limit.largeUploadUrl ? { large_upload_url: limit.largeUploadUrl } : {}) },
    );

  return async (c, next) => {
    const raw = c.req.raw;
    if (!raw.body) return next();
    const header = raw.headers.get('content-length');
    if (header !== null && /^\d+$/.test(header.trim())) {
      const declared = Number(header.trim());
      if (declared > limit.maxBytes) {
        // The body is not read: the platform discards it when the response goes out.
        throw tooLarge(declared);
      }
      return next();
    }
    let seen = 0;
    let exceeded = false;
    const counted = raw.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > limit.maxBytes) {
            exceeded = true;
            controller.error(tooLarge());
            return;
          }
          controller.enqueue(chunk);
        },
      }),
    );
    c.req.raw = new Request(raw, { body: counted, duplex: 'half' } as RequestInit);
    await next();
    if (exceeded) {
      // Whatever the route answered about its broken body stream, the cause was the size.
      const requestId = c.get('requestId');
      c.res = undefined;
      c.res = new Response(JSON.stringify(problemBody(tooLarge(), requestId, new URL(c.req.url).pathname)), {
        status: 413,
        headers: { 'Content-Type': 'application/problem+json', 'X-Request-Id': requestId },
      });
    }
  };
}
