import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeObjectStoreContract, failingStream, generatedStream } from '../../tests/storage-contract';
import { createLocalStore } from './local-store';

const root = mkdtempSync(join(tmpdir(), 'frostbyte-local-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeObjectStoreContract('local folder', (bucket) => createLocalStore(root, bucket));

/** Every file under `dir`, relative, including temp files the store hides from list(). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('local folder store', () => {
  it('keeps one folder per bucket with keys as sub-folders', async () => {
    const a = createLocalStore(root, 'layout-a');
    const b = createLocalStore(root, 'layout-b');
    await a.ensure();
    await b.ensure();
    await a.put('raw/acme/f1/sha', new TextEncoder().encode('in a'));
    expect(statSync(join(root, 'layout-a', 'raw', 'acme', 'f1', 'sha')).size).toBe(4);
    expect(await b.head('raw/acme/f1/sha')).toBeNull();
    await a.destroy();
    await b.destroy();
  });

  it('removes the temp file and empty folders of a failed stream', async () => {
    const store = createLocalStore(root, 'failed-put');
    await store.ensure();
    await store.put('raw/acme/keep/sha', new TextEncoder().encode('stays'));
    await expect(store.put('raw/acme/f9/sha', failingStream(3 * 1024 * 1024, new Error('aborted')))).rejects.toThrow('aborted');
    expect(filesUnder(join(root, 'failed-put'))).toEqual(['raw/acme/keep/sha']);
    expect(readdirSync(join(root, 'failed-put', 'raw', 'acme'))).toEqual(['keep']);
    await store.destroy();
  });

  it('publishes an object only when complete: concurrent readers never see a partial file', async () => {
    const store = createLocalStore(root, 'atomic-put');
    await store.ensure();
    const size = 8 * 1024 * 1024;
    const writing = store.put('raw/acme/f1/sha', generatedStream(size, 64 * 1024));
    const seen = new Set<number | null>();
    let done = false;
    void writing.finally(() => (done = true));
    while (!done) {
      seen.add((await store.head('raw/acme/f1/sha'))?.size ?? null);
      await new Promise((r) => setTimeout(r, 1));
    }
    await writing;
    seen.add((await store.head('raw/acme/f1/sha'))?.size ?? null);
    expect([...seen].every((s) => s === null || s === size)).toBe(true);
    expect(seen.has(size)).toBe(true);
    await store.destroy();
  });

  it('concurrent puts to one key leave one whole body', async () => {
    const store = createLocalStore(root, 'racing-put');
    await store.ensure();
    const bodies = ['first body', 'second, longer body', 'third'].map((s) => new TextEncoder().encode(s.repeat(10_000)));
    await Promise.all(bodies.map((b) => store.put('raw/acme/f1/sha', b)));
    const stored = await store.getBytes('raw/acme/f1/sha');
    expect(bodies.some((b) => Buffer.from(b).equals(Buffer.from(stored ?? [])))).toBe(true);
    expect(filesUnder(join(root, 'racing-put'))).toEqual(['raw/acme/f1/sha']);
    await store.destroy();
  });

  it('prunes folders a delete or move empties, but keeps the bucket folder', async () => {
    const store = createLocalStore(root, 'pruning');
    await store.ensure();
    await store.put('staging/acme/u1', new TextEncoder().encode('x'));
    await store.move('staging/acme/u1', 'raw/acme/f1/sha');
    await store.delete('raw/acme/f1/sha');
    expect(readdirSync(join(root, 'pruning'))).toEqual([]);
    await expect(store.check()).resolves.toBeUndefined();
    await store.destroy();
  });

  it('rejects bucket names that are not one plain folder name', () => {
    for (const bucket of ['..', 'a/b', 'A-upper', 'x', '.hidden', 'a..b']) {
      expect(() => createLocalStore(root, bucket), bucket).toThrow(/invalid bucket name/);
    }
  });

  it('reserves the temp-file prefix, so keys never collide with in-flight writes', async () => {
    const store = createLocalStore(root, 'reserved');
    await expect(store.put('raw/.fb-tmp-123', new Uint8Array(1))).rejects.toThrow(/invalid object key/);
  });
});
