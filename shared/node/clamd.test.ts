import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { eicarBytes } from '../../tests/harness/eicar';
import { clamdSettings } from '../../tests/harness/services';
import type { ScanSession } from '../scanner/malware-scanner';
import { createClamdScanner } from './clamd';

const scanner = () => createClamdScanner({ ...clamdSettings(), timeoutMs: 10_000 });

/** Feeds `data` in `chunkSize` pieces, the way intake feeds a file while it streams in. */
async function feed(session: ScanSession, data: Uint8Array, chunkSize = 64 * 1024) {
  for (let offset = 0; offset < data.byteLength; offset += chunkSize) await session.write(data.subarray(offset, offset + chunkSize));
}

async function scan(data: Uint8Array, chunkSize?: number) {
  const session = await scanner().start();
  await feed(session, data, chunkSize);
  return session.finish();
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** A closed port: bound for a moment, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('clamd scanner (real clamd, EICAR signature)', () => {
  it('answers PING', async () => {
    await expect(scanner().check()).resolves.toBeUndefined();
  });

  it('finds EICAR on its own', async () => {
    const result = await scan(eicarBytes());
    expect(result).toMatchObject({ status: 'infected', engine: 'clamav' });
    expect(result.status === 'infected' && result.threat).toMatch(/^Eicar-Test-Signature/);
  });

  it('finds EICAR inside a larger file, even when it straddles write boundaries', async () => {
    // The signature starts 30 bytes before the end of the 4th 64 KiB write, so it spans two writes.
    const file = concat(randomBytes(4 * 65_536 - 30), eicarBytes(), randomBytes(200_003));
    // And in 7-byte writes: clamd matches across INSTREAM chunks.
    expect(await scan(file, 64 * 1024)).toMatchObject({ status: 'infected' });
    expect(await scan(concat(new TextEncoder().encode('contract text '), eicarBytes(), new TextEncoder().encode(' more')), 7)).toMatchObject({
      status: 'infected',
    });
  });

  it('passes clean data, including an empty file', async () => {
    expect(await scan(new TextEncoder().encode('Invoice 2026-0042: 3 items, total EUR 1,250.00\n'))).toEqual({ status: 'clean', engine: 'clamav' });
    expect(await scan(new Uint8Array(0))).toEqual({ status: 'clean', engine: 'clamav' });
  });

  it('passes a 5 MB clean file streamed in 64 KiB chunks', async () => {
    expect(await scan(randomBytes(5_000_000))).toEqual({ status: 'clean', engine: 'clamav' });
  });

  it('finds EICAR at the end of a 5 MB file', async () => {
    expect(await scan(concat(randomBytes(5_000_000), eicarBytes()))).toMatchObject({ status: 'infected' });
  });

  it('keeps sessions apart when they run at the same time', async () => {
    const [a, b] = await Promise.all([scanner().start(), scanner().start()]);
    await a.write(new TextEncoder().encode('clean part '));
    await b.write(eicarBytes());
    await a.write(new TextEncoder().encode('still clean'));
    const [ra, rb] = await Promise.all([a.finish(), b.finish()]);
    expect(ra.status).toBe('clean');
    expect(rb.status).toBe('infected');
  });

  it('reports status error (not a throw) when clamd refuses a stream over StreamMaxLength', async () => {
    const session = await scanner().start();
    // The harness sets StreamMaxLength 100M; clamd answers "INSTREAM size limit exceeded. ERROR"
    // and closes while we are still writing (EPIPE on our side; its reply is still read).
    const chunk = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 102; i++) await session.write(chunk);
    const result = await session.finish();
    expect(result).toMatchObject({ status: 'error', engine: 'clamav' });
    expect(result.status === 'error' && result.message).toMatch(/size limit exceeded/);
    // clamd itself is fine afterwards.
    await expect(scanner().check()).resolves.toBeUndefined();
  });

  it('abort() ends a session without a verdict and leaves clamd serving others', async () => {
    const session = await scanner().start();
    await session.write(randomBytes(100_000));
    session.abort();
    await expect(session.write(new Uint8Array(1))).rejects.toThrow(/after finish\(\) or abort\(\)/);
    expect(await scan(new TextEncoder().encode('next file'))).toMatchObject({ status: 'clean' });
  });

  it('throws from check() and start() when clamd is down', async () => {
    const down = createClamdScanner({ host: '127.0.0.1', port: await closedPort(), timeoutMs: 2000 });
    await expect(down.check()).rejects.toThrow(/not reachable/);
    await expect(down.start()).rejects.toThrow(/not reachable/);
  });
});
