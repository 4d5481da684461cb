import { request as httpRequest, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Settings, uniqueName } from '../../tests/harness/services';
import { describeObjectStoreContract, failingStream, generatedStream } from '../../tests/storage-contract';
import { createS3Client, createS3Store } from './s3-store';

const client = createS3Client(s3Settings());
afterAll(() => client.destroy());

describeObjectStoreContract('S3 (s3rver)', (bucket) => createS3Store(client, bucket));

/**
 * A recording proxy in front of s3rver: tests see the S3 requests the store sends on the wire.
 * s3rver has no AbortMultipartUpload, so the proxy answers it the way S3 and MinIO do (204).
 * `failParts` makes every UploadPart fail with 403 AccessDenied.
 */
async function startProxy(target: string) {
  const seen: string[] = [];
  const state = { failParts: false };
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const call = `${req.method} ${[...url.searchParams.keys()].filter((k) => k !== 'x-id').sort().join('&')}`;
    seen.push(call);
    if (req.method === 'DELETE' && url.searchParams.has('uploadId')) {
      req.resume();
      res.writeHead(204).end();
      return;
    }
    if (state.failParts && req.method === 'PUT' && url.searchParams.has('partNumber')) {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      return;
    }
    const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, seen, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('S3 store on the wire', () => {
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let proxiedClient: ReturnType<typeof createS3Client>;
  beforeAll(async () => {
    proxy = await startProxy(s3Settings().endpoint);
    proxiedClient = createS3Client({ ...s3Settings(), endpoint: proxy.endpoint });
  });
  afterAll(async () => {
    proxiedClient.destroy();
    await proxy.close();
  });

  it('aborts the multipart upload when the source stream fails after the first part', async () => {
    const store = createS3Store(proxiedClient, uniqueName('fb-s3'));
    await store.ensure();
    proxy.seen.length = 0;
    await expect(store.put('raw/acme/f1/sha', failingStream(12 * 1024 * 1024, new Error('client went away')))).rejects.toThrow('client went away');
    expect(proxy.seen).toContain('POST uploads'); // CreateMultipartUpload
    expect(proxy.seen).toContain('PUT partNumber&uploadId'); // UploadPart
    expect(proxy.seen).toContain('DELETE uploadId'); // AbortMultipartUpload
    expect(proxy.seen).not.toContain('POST uploadId'); // never CompleteMultipartUpload
    expect(await store.head('raw/acme/f1/sha')).toBeNull();
    await store.destroy();
  });

  it('cancels the caller stream and aborts when the server refuses a part', async () => {
    const store = createS3Store(proxiedClient, uniqueName('fb-s3'));
    await store.ensure();
    proxy.seen.length = 0;
    proxy.state.failParts = true;
    let cancelled = false;
    const source = generatedStream(64 * 1024 * 1024, 64 * 1024);
    const reader = source.getReader();
    const watched = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const r = await reader.read();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      cancel(reason) {
        cancelled = true;
        return reader.cancel(reason);
      },
    });
    try {
      await expect(store.put('raw/acme/f2/sha', watched)).rejects.toThrow(/Access Denied/);
    } finally {
      proxy.state.failParts = false;
    }
    expect(cancelled).toBe(true);
    expect(proxy.seen).toContain('DELETE uploadId');
    expect(await store.head('raw/acme/f2/sha')).toBeNull();
    await store.destroy();
  });

  it('sends streamed bodies without aws-chunked framing (the object is exactly the bytes sent)', async () => {
    const store = createS3Store(client, uniqueName('fb-s3'));
    await store.ensure();
    const body = new TextEncoder().encode('exact bytes, no chunk framing\n'.repeat(7000));
    await store.put('raw/acme/f3/sha', new ReadableStream({ start: (c) => (c.enqueue(body), c.close()) }));
    expect(Buffer.from((await store.getBytes('raw/acme/f3/sha')) ?? []).equals(Buffer.from(body))).toBe(true);
    await store.destroy();
  });

  it('check fails when the endpoint cannot be reached', async () => {
    const dead = createS3Client({ ...s3Settings(), endpoint: 'http://127.0.0.1:9' });
    await expect(createS3Store(dead, uniqueName('fb-s3')).check()).rejects.toThrow();
    dead.destroy();
  });
});
