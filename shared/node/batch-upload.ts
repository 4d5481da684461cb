import { createReadStream } from 'node:fs';
import { FormDataEncoder, type FileLike, type FormDataEntryValue, type FormDataLike } from 'form-data-encoder';
import type { Manifest } from '../intake/manifest';

/** One local file to send, in manifest order. */
export interface UploadFile {
  path: string;
  /** The manifest's filename: what the part's Content-Disposition carries. */
  filename: string;
  /** Bytes on disk when the upload was planned; the body's Content-Length is computed from it. */
  size: number;
}

export interface UploadProgress {
  /** Bytes of file content handed to the connection so far (multipart framing not counted). */
  bytes: number;
  /** Files whose last byte has been handed over. */
  filesDone: number;
  /** The file being sent (index into the files list), or -1 before the first and after the last. */
  current: number;
}

/** Read size for uploads (bytes): large enough for throughput, small enough to keep memory flat. */
const UPLOAD_CHUNK_BYTES = 256 * 1024;

/**
 * A file part that reads the file lazily when the encoder reaches it, reporting each chunk. Reads
 * exactly `size` bytes: a file that grew since it was measured is cut there, and one that shrank
 * ends early, which makes the request fail with a length mismatch rather than send a lie.
 */
class DiskFile implements FileLike {
  readonly type = 'application/octet-stream';
  readonly lastModified = 0;
  readonly [Symbol.toStringTag] = 'File';
  constructor(
    readonly name: string,
    readonly size: number,
    private readonly path: string,
    private readonly onChunk: (n: number) => void,
    private readonly onEnd: () => void,
  ) {}
  async *stream(): AsyncGenerator<Uint8Array> {
    if (this.size > 0) {
      for await (const chunk of createReadStream(this.path, { start: 0, end: this.size - 1, highWaterMark: UPLOAD_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
        this.onChunk(chunk.length);
        yield chunk;
      }
    }
    this.onEnd();
  }
}

/** The ordered FormData shape form-data-encoder walks (Node's own FormData only holds in-memory Blobs). */
class OrderedForm implements FormDataLike {
  readonly [Symbol.toStringTag] = 'FormData';
  private readonly items: [string, FormDataEntryValue][] = [];
  append(name: string, value: unknown): void {
    this.items.push([name, value as FormDataEntryValue]);
  }
  getAll(name: string): FormDataEntryValue[] {
    return this.items.filter(([n]) => n === name).map(([, v]) => v);
  }
  entries(): IterableIterator<[string, FormDataEntryValue]> {
    return this.items[Symbol.iterator]();
  }
  [Symbol.iterator](): IterableIterator<[string, FormDataEntryValue]> {
    return this.entries();
  }
}

/** An in-memory part (the manifest) sent like `curl -F manifest=@manifest.json;type=application/json`. */
class MemoryFile implements FileLike {
  readonly lastModified = 0;
  readonly [Symbol.toStringTag] = 'File';
  readonly size: number;
  constructor(readonly name: string, readonly type: string, private readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  async *stream(): AsyncGenerator<Uint8Array> {
    yield this.bytes;
  }
}

/**
 * The POST …/batch body as a stream: part `manifest` first, then one `files` part per manifest
 * entry, each read from disk only while it is being sent. Content-Length is exact (computed from
 * the sizes), so proxies and intake know the length up front and nothing is buffered whole.
 */
export function encodeBatchUpload(manifest: Manifest, files: readonly UploadFile[], onProgress?: (p: UploadProgress) => void) {
  const progress: UploadProgress = { bytes: 0, filesDone: 0, current: -1 };
  const form = new OrderedForm();
  form.append('manifest', new MemoryFile('manifest.json', 'application/json', new TextEncoder().encode(JSON.stringify(manifest))));
  files.forEach((f, i) => {
    form.append('files', new DiskFile(f.filename, f.size, f.path, (n) => {
      progress.current = i;
      progress.bytes += n;
      onProgress?.({ ...progress });
    }, () => {
      progress.filesDone++;
      progress.current = i + 1 < files.length ? i + 1 : -1;
      onProgress?.({ ...progress });
    }));
  });
  const encoder = new FormDataEncoder(form);
  const chunks = encoder.encode();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
  return { body, contentType: encoder.contentType, contentLength: Number(encoder.contentLength), totalBytes: files.reduce((n, f) => n + f.size, 0) };
}
