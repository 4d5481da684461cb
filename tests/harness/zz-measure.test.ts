import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { createClamdScanner } from '../../shared/node/clamd';
import { createLocalStore } from '../../shared/node/local-store';
import { createS3Client, createS3Store } from '../../shared/storage/s3-store';
import { clamdSettings, s3Settings, uniqueName } from './services';

function gen(size: number, chunk: Buffer) {
  let sent = 0;
  return new ReadableStream<Uint8Array>({ pull(c) { if (sent >= size) return c.close(); const n = Math.min(chunk.length, size - sent); sent += n; c.enqueue(new Uint8Array(chunk.subarray(0, n))); } }, { highWaterMark: 0 });
}
async function measure(label: string, size: number, f: (s: ReadableStream<Uint8Array>) => Promise<void>) {
  globalThis.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const t = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  const t0 = performance.now();
  await f(gen(size, randomBytes(64 * 1024)));
  const ms = performance.now() - t0;
  clearInterval(t);
  console.log(`${label}: ${(size / 2 ** 20).toFixed(0)} MiB in ${ms.toFixed(0)} ms (${((size / 2 ** 20) / (ms / 1000)).toFixed(0)} MiB/s), RSS growth ${((peak - base) / 2 ** 20).toFixed(1)} MiB`);
}
it('measures', async () => {
  const client = createS3Client(s3Settings());
  const s3 = createS3Store(client, uniqueName('fb-measure'));
  await s3.ensure();
  for (let i = 0; i < 3; i++) await measure('s3rver put 20 MiB', 20 * 2 ** 20, (b) => s3.put('raw/a/b/c', b));
  await measure('s3rver put 512 MiB', 512 * 2 ** 20, (b) => s3.put('raw/a/b/big', b));
  const t0 = performance.now(); const h = createHash('sha256'); for await (const c of (await s3.get('raw/a/b/big')) as unknown as AsyncIterable<Uint8Array>) h.update(c); console.log(`s3rver get 512 MiB: ${(performance.now() - t0).toFixed(0)} ms`);
  await s3.destroy();
  const root = mkdtempSync(join(tmpdir(), 'fb-measure-'));
  const local = createLocalStore(root, 'measure');
  await local.ensure();
  for (let i = 0; i < 2; i++) await measure('local put 20 MiB', 20 * 2 ** 20, (b) => local.put('raw/a/b/c', b));
  await measure('local put 512 MiB', 512 * 2 ** 20, (b) => local.put('raw/a/b/big', b));
  rmSync(root, { recursive: true, force: true });
  const scanner = createClamdScanner({ ...clamdSettings(), timeoutMs: 30_000 });
  const data = randomBytes(5_000_000);
  for (let i = 0; i < 5; i++) {
    const t1 = performance.now();
    const s = await scanner.start();
    for (let o = 0; o < data.length; o += 65536) await s.write(data.subarray(o, o + 65536));
    const r = await s.finish();
    console.log(`clamd 5 MB: ${r.status} in ${(performance.now() - t1).toFixed(0)} ms`);
  }
  const t2 = performance.now(); await scanner.check(); console.log(`clamd PING ${(performance.now() - t2).toFixed(1)} ms`);
  client.destroy();
}, 300_000);
