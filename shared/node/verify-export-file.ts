import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { JSONWebKeySet } from 'jose';
import { joinSegments, type SegmentSummary } from '../audit/export-lines';
import { verifyManifest } from '../audit/manifest';
import { summarize, verifyExport, type ExportVerification } from '../audit/verify-export';
import { nodeSha256 } from './sha256';
import { checkFileSegment, READ_CHUNK_BYTES, type SegmentTask } from './verify-export-segment';

/**
 * A stretch is at least this long: starting a worker thread (and its TypeScript loader) costs
 * about 0.4 s, what checking some 60 MB of lines takes.
 */
const MIN_STRETCH_BYTES = 64 * 1024 * 1024;
const WORKER_FILE = new URL('./verify-export-worker.mjs', import.meta.url);

export interface VerifyExportFileOptions {
  /** Threads that check lines, at most. Default: the machine's available parallelism. */
  threads?: number;
  /** The shortest stretch worth a thread of its own. Default 64 MiB. */
  minStretchBytes?: number;
}

/**
 * `frostbyte audit verify` on a file: the same checks and the same answer as verifyExport, with
 * the lines checked in parallel. The file is cut at line ends into one stretch per thread; each
 * stretch is checked on its own (exportSegmentChecker) — the first on this thread, which also
 * hashes the whole file, the others in worker threads — and joinSegments checks what crosses the
 * cuts. At any problem, or any doubt, verifyExport runs over the file from the start, so a
 * failure is reported exactly as a single pass reports it (code, first failing line, reason);
 * only an intact file is answered from the parallel pass.
 */
export async function verifyExportFile(path: string, manifestInput: unknown, jwks: JSONWebKeySet, opts: VerifyExportFileOptions = {}): Promise<ExportVerification> {
  // Default 64 KiB reads: each becomes one decoded string, and V8 allocates longer ones slowly.
  const singlePass = () => verifyExport(createReadStream(path), manifestInput, jwks, { sha256: nodeSha256 });
  const { size } = await stat(path);
  const parts = Math.min(opts.threads ?? availableParallelism(), Math.floor(size / (opts.minStretchBytes ?? MIN_STRETCH_BYTES)));
  if (!(parts >= 2)) return singlePass(); // also when NaN: an empty file and minStretchBytes 0

  const checked = await verifyManifest(manifestInput, jwks);
  if (!checked.ok) return { ok: false, code: checked.code, line: null, reason: checked.reason };
  const manifest = checked.manifest;
  // This thread hashes the file and checks the first stretch; a worker thread checks each other one.
  const cuts = await lineCuts(path, size, parts);
  const tasks = cuts.slice(1).map((end, i) => ({ path, start: cuts[i], end, manifest }));
  const [sha, ...segments] = await Promise.all([fileSha256(path), checkFileSegment(tasks[0]), ...tasks.slice(1).map(checkInWorker)]);
  const intact = segments.every((s): s is SegmentSummary => s !== null);
  if (sha === manifest.file_sha256 && intact && joinSegments(manifest, segments)) return { ok: true, manifest, summary: summarize(manifest) };
  return singlePass();
}

/**
 * Byte offsets that cut the file into about `parts` stretches of whole lines: 0, the byte after
 * the first line end at or past each even share, and the size. A stretch may end without a line
 * end only at the end of the file. Exported for its tests.
 */
export async function lineCuts(path: string, size: number, parts: number): Promise<number[]> {
  const cuts = [0];
  const file = await open(path);
  try {
    const buf = Buffer.alloc(64 * 1024);
    for (let k = 1; k < parts; k++) {
      let pos = Math.max(Math.floor((size * k) / parts), cuts[cuts.length - 1]);
      let cut = size;
      while (pos < size) {
        const { bytesRead } = await file.read(buf, 0, buf.length, pos);
        const nl = buf.subarray(0, bytesRead).indexOf(10);
        if (nl !== -1) {
          cut = pos + nl + 1;
          break;
        }
        pos += bytesRead;
      }
      if (cut >= size) break;
      cuts.push(cut);
    }
  } finally {
    await file.close();
  }
  cuts.push(size);
  return cuts;
}

async function fileSha256(path: string): Promise<string> {
  const hash = nodeSha256();
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digestHex();
}

/**
 * Checks a stretch in a worker thread: its summary, or null when the stretch has a problem or the
 * worker failed. Exported for its tests.
 */
export function checkInWorker(task: SegmentTask): Promise<SegmentSummary | null> {
  return new Promise((resolve) => {
    // No execArgv: the worker entry loads TypeScript itself, and a parent's loader flags (the tsx
    // CLI's) would only load it a second time.
    const worker = new Worker(WORKER_FILE, { workerData: task, execArgv: [] });
    worker.once('message', (summary: SegmentSummary | null) => resolve(summary));
    worker.once('error', () => resolve(null));
    worker.once('exit', () => resolve(null));
  });
}
