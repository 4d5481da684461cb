import { Busboy } from '@fastify/busboy';
import { AppError } from '../http/errors';

/**
 * Streaming multipart reader over a web ReadableStream, using busboy (a maintained streaming
 * parser). Parts come one at a time; a file part's bytes are a stream that must be consumed
 * (or drained) before the next part arrives, so memory stays at a few chunks whatever the size.
 */
export type Part =
  | { kind: 'field'; name: string; value: string; truncated: boolean }
  | { kind: 'file'; name: string; filename: string; mimeType: string; stream: FileStream };

export interface FileStream extends AsyncIterable<Uint8Array> {
  /** True once the stream ended early because the per-file size limit was hit. */
  readonly truncated?: boolean;
  resume(): unknown;
}

export interface MultipartLimits {
  /** Bytes per file part; longer parts are cut and flagged `truncated`. */
  fileSize: number;
  files: number;
  /** Bytes per text field (the manifest). */
  fieldSize: number;
}

class PartQueue implements AsyncIterator<Part> {
  private items: Part[] = [];
  private waiting: ((r: IteratorResult<Part>) => void) | null = null;
  private rejecter: ((e: unknown) => void) | null = null;
  private done = false;
  private error: unknown = null;

  push(p: Part) {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = this.rejecter = null;
      w({ value: p, done: false });
    } else this.items.push(p);
  }
  end() {
    this.done = true;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = this.rejecter = null;
      w({ value: undefined, done: true });
    }
  }
  fail(e: unknown) {
    if (this.error || this.done) return;
    this.error = e;
    if (this.rejecter) {
      const r = this.rejecter;
      this.waiting = this.rejecter = null;
      r(e);
    }
  }
  next(): Promise<IteratorResult<Part>> {
    const item = this.items.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.error) return Promise.reject(this.error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.rejecter = reject;
    });
  }
}

export function boundaryOf(contentType: string | undefined): boolean {
  return !!contentType && /^multipart\/form-data\s*;.*boundary=/i.test(contentType);
}

export function readMultipart(contentType: string, body: ReadableStream<Uint8Array>, limits: MultipartLimits): AsyncIterable<Part> & { abort(): void } {
  const queue = new PartQueue();
  type Destroyable = FileStream & { destroy(e?: Error): void };
  const state: { current: Destroyable | null } = { current: null };
  let bb: InstanceType<typeof Busboy>;
  try {
    bb = new Busboy({ headers: { 'content-type': contentType }, limits: { ...limits, fields: 100, parts: limits.files + 100 } });
  } catch {
    throw new AppError('MULTIPART_INVALID', 'Send multipart/form-data with a boundary.');
  }
  const incomplete = (why: string) => new AppError('UPLOAD_INCOMPLETE', `The upload ended early: ${why}. Nothing from this request was kept; send the batch again.`);
  bb.on('file', (name, stream, filename, _enc, mimeType) => {
    const s = stream as unknown as Destroyable;
    state.current = s;
    queue.push({ kind: 'file', name, filename, mimeType, stream: s });
  });
  bb.on('field', (name, value, _nameTruncated, valueTruncated) => queue.push({ kind: 'field', name, value, truncated: valueTruncated }));
  bb.on('finish', () => queue.end());
  bb.on('error', (e: Error) => {
    const err = incomplete(e.message.toLowerCase());
    state.current?.destroy(err);
    queue.fail(err);
  });

  const reader = body.getReader();
  let aborted = false;
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (aborted) return;
        if (!bb.write(value)) await new Promise<void>((resolve) => bb.once('drain', () => resolve()));
      }
      bb.end();
    } catch (e) {
      const err = incomplete(e instanceof Error ? e.message : 'connection lost');
      state.current?.destroy(err);
      queue.fail(err);
      bb.destroy();
    }
  })();

  return {
    [Symbol.asyncIterator]: () => queue,
    abort() {
      aborted = true;
      void reader.cancel().catch(() => {});
    },
  };
}

/** Reads a whole (small) file part as text, refusing more than `max` bytes. */
export async function readPartText(stream: FileStream, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > max) throw new AppError('MANIFEST_INVALID', `The manifest is larger than ${max} bytes.`);
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}

export async function drain(stream: FileStream): Promise<void> {
  for await (const _ of stream) {
    // discard
  }
}
