import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import type { MalwareScanner, ScanResult, ScanSession } from '../scanner/malware-scanner';

export interface ClamdSettings {
  host: string;
  port: number;
  /**
   * Milliseconds allowed to connect, for clamd to drain a full socket buffer, and for the verdict
   * after the last byte (that includes clamd's scan of the whole file). Time the caller spends
   * between writes is not counted: clamd's own ReadTimeout (default 120 s) guards that.
   * Default 30 000.
   */
  timeoutMs?: number;
}

const ENGINE = 'clamav';
const DEFAULT_TIMEOUT_MS = 30_000;
/** Zero-length chunk: the end of an INSTREAM body. */
const TERMINATOR = new Uint8Array(4);
/** One frame header is a 4-byte big-endian length, so a single chunk is below 4 GiB. */
const MAX_FRAME_BYTES = 0xffff_ffff;

/**
 * clamd over TCP with the INSTREAM command (`zINSTREAM\0`, then `<u32 BE length><bytes>` frames,
 * then a zero-length frame; the `z` prefix makes clamd answer with one NUL-terminated line).
 * A session is fed while the file streams in, so scanning adds no second pass over the bytes.
 *
 * start() and check() throw when clamd cannot be reached. Once a session is open, every failure
 * (clamd's size limit, a dropped connection, a timeout, an unexpected reply) becomes
 * `{status: 'error'}`: the file is kept and flagged rather than lost.
 */
export function createClamdScanner(settings: ClamdSettings): MalwareScanner {
  const timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return {
    engine: ENGINE,

    async start() {
      const socket = await connect(settings.host, settings.port, timeoutMs);
      return openSession(socket, timeoutMs);
    },

    async check() {
      const socket = await connect(settings.host, settings.port, timeoutMs);
      const reply = await new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`clamd at ${settings.host}:${settings.port}: no PING reply within ${timeoutMs} ms`)));
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.on('error', reject);
        socket.on('close', () => resolve(decodeReply(chunks)));
        socket.end('zPING\0');
      });
      if (reply !== 'PONG') throw new Error(`clamd at ${settings.host}:${settings.port} answered PING with ${JSON.stringify(reply)}`);
    },
  };
}

function connect(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error(`clamd at ${host}:${port}: connect timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(new Error(`clamd at ${host}:${port} is not reachable: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
  });
}

function openSession(socket: Socket, timeoutMs: number): ScanSession {
  socket.setNoDelay(true);
  const replyChunks: Buffer[] = [];
  let socketError: Error | null = null;
  let closed = false;
  let finished = false;
  const closeWaiters: (() => void)[] = [];

  socket.on('data', (d: Buffer) => replyChunks.push(d));
  // clamd closes its side early when it rejects the stream (size limit): our writes then fail with
  // EPIPE/ECONNRESET while its reply is still waiting to be read. Record, don't throw.
  socket.on('error', (err) => {
    socketError ??= err;
  });
  socket.on('close', () => {
    closed = true;
    for (const wake of closeWaiters.splice(0)) wake();
  });

  const waitForClose = () => new Promise<void>((resolve) => (closed ? resolve() : closeWaiters.push(resolve)));

  /** Waits until the socket has room again (backpressure), or is gone; bounded by timeoutMs. */
  const drain = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        socket.removeListener('drain', done);
        socket.removeListener('close', done);
        resolve();
      };
      const timer = setTimeout(() => {
        socket.destroy(new Error(`clamd did not accept more data within ${timeoutMs} ms`));
        done();
      }, timeoutMs);
      socket.once('drain', done);
      socket.once('close', done);
    });

  socket.write('zINSTREAM\0');

  const result = (): ScanResult => {
    const reply = decodeReply(replyChunks);
    if (reply === 'stream: OK') return { status: 'clean', engine: ENGINE };
    // Signatures from an unsigned database get `.UNOFFICIAL` appended; keep the name as clamd says it.
    const found = /^stream: (.+) FOUND$/.exec(reply);
    if (found) return { status: 'infected', engine: ENGINE, threat: found[1] };
    if (reply) return { status: 'error', engine: ENGINE, message: `clamd: ${reply}` };
    return { status: 'error', engine: ENGINE, message: `clamd: no reply${socketError ? ` (${socketError.message})` : ''}` };
  };

  return {
    async write(chunk) {
      if (finished) throw new Error('clamd scan session: write() after finish() or abort()');
      // Once clamd has closed the stream, its verdict is already decided; the rest is dropped.
      if (closed || socket.destroyed || socket.writableEnded) return;
      for (let offset = 0; offset < chunk.byteLength; offset += MAX_FRAME_BYTES) {
        const part = chunk.subarray(offset, offset + MAX_FRAME_BYTES);
        if (part.byteLength === 0) continue; // a zero-length frame would end the stream early
        const header = new Uint8Array(4);
        new DataView(header.buffer).setUint32(0, part.byteLength, false);
        socket.cork();
        socket.write(header);
        const hasRoom = socket.write(part);
        socket.uncork();
        if (!hasRoom) await drain();
      }
    },

    async finish() {
      if (finished) throw new Error('clamd scan session: finish() called twice or after abort()');
      finished = true;
      if (!closed && !socket.destroyed && !socket.writableEnded) socket.end(TERMINATOR);
      // The verdict comes after clamd has scanned everything; its reply ends with NUL and then
      // clamd closes the connection.
      const timer = setTimeout(() => socket.destroy(new Error(`clamd gave no verdict within ${timeoutMs} ms`)), timeoutMs);
      await waitForClose();
      clearTimeout(timer);
      return result();
    },

    abort() {
      finished = true;
      socket.destroy();
    },
  };
}

function decodeReply(chunks: Buffer[]): string {
  return Buffer.concat(chunks).toString('utf8').replace(/\0+$/, '').trim();
}
