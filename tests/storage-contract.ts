import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../shared/storage/object-store';
import { uniqueName } from './harness/services';

/**
 * The behaviour every ObjectStore adapter must share (the local folder store and the S3 store),
 * registered as vitest tests for one store factory. Each test gets a bucket of its own and
 * destroys it afterwards.
 */
export function describeObjectStoreContract(name: string, createStore: (bucket: string) => ObjectStore) {
  describe(`ObjectStore contract: ${name}`, () => {
    const created: ObjectStore[] = [];
    afterEach(async () => {
      for (const store of created.splice(0)) await store.destroy();
    });

    const freshStore = async () => {
      const store = createStore(uniqueName('fb-contract'));
      created.push(store);
      await store.ensure();
      return store;
    };

    it('ensure is idempotent and check passes on an ensured bucket', async () => {
      const store = await freshStore();
      await store.ensure();
      await expect(store.check()).resolves.toBeUndefined();
    });

    it('check fails for a bucket that does not exist', async () => {
      const store = createStore(uniqueName('fb-contract'));
      await expect(store.check()).rejects.toThrow();
    });

    it('put into a bucket that was never ensured fails', async () => {
      const store = createStore(uniqueName('fb-contract'));
      await expect(store.put('raw/t/f/x', bytes('x'))).rejects.toThrow();
    });

    it('stores bytes and reads them back with get, getBytes and head', async () => {
      const store = await freshStore();
      const body = bytes('Frostbyte contract body\n');
      await store.put('raw/acme/f1/abc', body, { contentType: 'text/plain' });

      expect(await store.getBytes('raw/acme/f1/abc')).toEqual(body);
      const stream = await store.get('raw/acme/f1/abc');
      expect(stream).not.toBeNull();
      expect(await readAll(stream as ReadableStream<Uint8Array>)).toEqual(body);
      expect(await store.head('raw/acme/f1/abc')).toEqual({ size: body.byteLength });
    });

    it('stores an empty object', async () => {
      const store = await freshStore();
      await store.put('raw/acme/empty/e3b0', new Uint8Array(0));
      expect(await store.head('raw/acme/empty/e3b0')).toEqual({ size: 0 });
      expect(await store.getBytes('raw/acme/empty/e3b0')).toEqual(new Uint8Array(0));
      await store.put('raw/acme/empty/stream', streamOf([]));
      expect(await store.head('raw/acme/empty/stream')).toEqual({ size: 0 });
    });

    it('put overwrites an existing key', async () => {
      const store = await freshStore();
      await store.put('parsed/acme/doc1/v1.json', bytes('{"v":1}'));
      await store.put('parsed/acme/doc1/v1.json', streamOf([bytes('{"v":'), bytes('22}')]));
      expect(text(await store.getBytes('parsed/acme/doc1/v1.json'))).toBe('{"v":22}');
    });

    it('missing keys give null from get, getBytes and head', async () => {
      const store = await freshStore();
      await store.put('raw/acme/f1/present', bytes('here'));
      expect(await store.get('raw/acme/f1/absent')).toBeNull();
      expect(await store.getBytes('raw/acme/f1/absent')).toBeNull();
      expect(await store.head('raw/acme/f1/absent')).toBeNull();
      expect(await store.head('raw/acme/nothing/here')).toBeNull();
      // A "folder" is not an object.
      expect(await store.head('raw/acme/f1')).toBeNull();
      expect(await store.getBytes('raw/acme/f1')).toBeNull();
    });

    it('lists keys under a prefix in order, including prefixes that end mid-segment', async () => {
      const store = await freshStore();
      const keys = ['raw/acme/f2/b', 'raw/acme/f1/a', 'raw/acme/f10/c', 'raw/acme2/f1/d', 'quarantine/acme/f3/e', 'staging/acme/u1'];
      for (const key of keys) await store.put(key, bytes(key));

      expect(await store.list('raw/acme/')).toEqual(['raw/acme/f1/a', 'raw/acme/f10/c', 'raw/acme/f2/b']);
      expect(await store.list('raw/acme/f1')).toEqual(['raw/acme/f1/a', 'raw/acme/f10/c']);
      expect(await store.list('raw/acme')).toEqual(['raw/acme/f1/a', 'raw/acme/f10/c', 'raw/acme/f2/b', 'raw/acme2/f1/d']);
      expect(await store.list('raw/nobody/')).toEqual([]);
      expect(await store.list('')).toEqual([...keys].sort());
    });

    it('move puts the object under the new key and removes the old one', async () => {
      const store = await freshStore();
      // A space and a non-ASCII letter exercise the URL-encoding of S3's copy source.
      const from = 'staging/acme/upload one/ü';
      await store.put(from, bytes('moving bytes'));
      await store.move(from, 'raw/acme/f1/sha');
      expect(await store.head(from)).toBeNull();
      expect(text(await store.getBytes('raw/acme/f1/sha'))).toBe('moving bytes');
      expect(await store.list('staging/')).toEqual([]);
    });

    it('move overwrites the target and fails for a missing source', async () => {
      const store = await freshStore();
      await store.put('staging/acme/u2', bytes('new'));
      await store.put('raw/acme/f2/sha', bytes('old'));
      await store.move('staging/acme/u2', 'raw/acme/f2/sha');
      expect(text(await store.getBytes('raw/acme/f2/sha'))).toBe('new');
      await expect(store.move('staging/acme/never', 'raw/acme/f3/sha')).rejects.toThrow(/no such key/);
      expect(await store.head('raw/acme/f3/sha')).toBeNull();
    });

    it('delete removes an object and is a no-op for a missing key', async () => {
      const store = await freshStore();
      await store.put('raw/acme/f1/a', bytes('a'));
      await store.put('raw/acme/f1/b', bytes('b'));
      await store.delete('raw/acme/f1/a');
      await store.delete('raw/acme/f1/a');
      await store.delete('raw/acme/never/was');
      expect(await store.head('raw/acme/f1/a')).toBeNull();
      expect(await store.list('raw/')).toEqual(['raw/acme/f1/b']);
    });

    it('destroy removes the bucket and everything in it, and can be repeated', async () => {
      const store = await freshStore();
      for (let i = 0; i < 5; i++) await store.put(`raw/acme/f${i}/x`, bytes(`object ${i}`));
      await store.destroy();
      await expect(store.check()).rejects.toThrow();
      await store.destroy();
      // The same name can be provisioned again and starts empty.
      await store.ensure();
      expect(await store.list('')).toEqual([]);
    });

    it('rejects keys that could escape the bucket or are malformed', async () => {
      const store = await freshStore();
      for (const key of ['', '../x', 'raw/../../etc/passwd', '/abs/path', 'raw//double', 'raw/./dot', 'raw/trailing/', 'raw\\win', 'nul\u0000byte']) {
        await expect(store.put(key, bytes('x')), key).rejects.toThrow(/invalid object key/);
        await expect(store.get(key), key).rejects.toThrow(/invalid object key/);
      }
      await expect(store.list('../')).rejects.toThrow(/invalid object key prefix/);
      await expect(store.move('raw/a', '../b')).rejects.toThrow(/invalid object key/);
    });

    it('a streamed 20 MiB body arrives byte-identical', async () => {
      const store = await freshStore();
      const size = 20 * 1024 * 1024;
      // Generated chunk by chunk and hashed on the way, so the test holds no copy of the body.
      const sent = createHash('sha256');
      await store.put('raw/acme/big/sha', generatedStream(size, 64 * 1024, sent));
      const expected = sent.digest('hex');

      expect(await store.head('raw/acme/big/sha')).toEqual({ size });
      const received = createHash('sha256');
      let receivedBytes = 0;
      const stream = await store.get('raw/acme/big/sha');
      for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
        received.update(chunk);
        receivedBytes += chunk.byteLength;
      }
      expect(receivedBytes).toBe(size);
      expect(received.digest('hex')).toBe(expected);
    });

    it('a source stream that fails leaves no object behind', async () => {
      const store = await freshStore();
      // Small (a single request) and past the first 5 MiB part (an S3 multipart upload).
      for (const before of [1024, 7 * 1024 * 1024]) {
        const key = `raw/acme/broken-${before}/sha`;
        await expect(store.put(key, failingStream(before, new Error('client went away')))).rejects.toThrow('client went away');
        expect(await store.head(key)).toBeNull();
        expect(await store.get(key)).toBeNull();
      }
      expect(await store.list('')).toEqual([]);
    });

    it('a failed overwrite keeps the previous object intact', async () => {
      const store = await freshStore();
      await store.put('raw/acme/f1/keep', bytes('the original'));
      await expect(store.put('raw/acme/f1/keep', failingStream(6 * 1024 * 1024, new Error('truncated upload')))).rejects.toThrow('truncated upload');
      expect(text(await store.getBytes('raw/acme/f1/keep'))).toBe('the original');
      expect(await store.list('')).toEqual(['raw/acme/f1/keep']);
    });

    it('a reader can stop early without reading the whole object', async () => {
      const store = await freshStore();
      await store.put('raw/acme/f1/big', generatedStream(3 * 1024 * 1024, 64 * 1024));
      const stream = (await store.get('raw/acme/f1/big')) as ReadableStream<Uint8Array>;
      const reader = stream.getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      await reader.cancel();
      // The object is still readable afterwards (nothing was left locked or half-closed).
      expect(await store.head('raw/acme/f1/big')).toEqual({ size: 3 * 1024 * 1024 });
    });
  });
}

const encoder = new TextEncoder();
const bytes = (s: string) => encoder.encode(s);
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

export function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

/** `size` random bytes in `chunkSize` pieces, produced only when pulled; each piece also goes into `hash`. */
export function generatedStream(size: number, chunkSize: number, hash?: { update(b: Uint8Array): unknown }): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (sent >= size) {
          controller.close();
          return;
        }
        const chunk = new Uint8Array(randomBytes(Math.min(chunkSize, size - sent)));
        hash?.update(chunk);
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Produces `before` bytes, then errors like a client that disconnected mid-upload. */
export function failingStream(before: number, error: Error): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (sent >= before) {
          controller.error(error);
          return;
        }
        const chunk = new Uint8Array(Math.min(64 * 1024, before - sent)).fill(0x61);
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) parts.push(chunk);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}
