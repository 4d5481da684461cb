import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile, readdir, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { assertKeyPrefix as assertPrefix, assertObjectKey as assertKey, type ObjectStore } from '../storage/object-store';

/**
 * The embedded object store: one folder per tenant bucket under `rootDir`, one file per object,
 * key segments as sub-folders (`raw/acme/f1/<sha>` → `<root>/<bucket>/raw/acme/f1/<sha>`).
 *
 * Writes go to a temp file beside the target and are renamed into place after an fsync, so a
 * reader sees either the old object or the whole new one, and a failed or aborted upload leaves
 * no object behind. Bodies are streamed in both directions: memory does not grow with object size.
 *
 * Difference from S3: a key cannot also be a "folder" of other keys (`a` and `a/b` cannot both
 * exist). Frostbyte's key layout (DESIGN §5) never does that.
 */
export function createLocalStore(rootDir: string, bucket: string): ObjectStore {
  assertBucketName(bucket);
  const bucketDir = join(rootDir, bucket);

  const pathOf = (key: string) => {
    assertObjectKey(key);
    return join(bucketDir, ...key.split('/'));
  };

  /** Removes now-empty folders from `dir` up to (not including) the bucket folder. */
  const pruneEmptyDirs = async (dir: string) => {
    while (dir.startsWith(bucketDir + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (ENOTEMPTY/EEXIST) or already gone: stop climbing
      }
      dir = dirname(dir);
    }
  };

  const requireBucket = async () => {
    const st = await stat(bucketDir).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) throw new Error(`object store bucket ${bucket} does not exist (call ensure() first)`);
      throw err;
    });
    if (!st.isDirectory()) throw new Error(`object store bucket ${bucket} is not a folder: ${bucketDir}`);
  };

  /**
   * Creates the parent folders of `file` and opens a fresh temp file beside it. A concurrent
   * delete may prune the just-created folder before the temp file exists; that shows up as ENOENT
   * and is retried.
   */
  const openTempFile = async (file: string): Promise<{ tmp: string; fh: FileHandle }> => {
    const dir = dirname(file);
    for (let attempt = 0; ; attempt++) {
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
      try {
        return { tmp, fh: await open(tmp, 'wx') };
      } catch (err) {
        if (!isErrno(err, 'ENOENT') || attempt >= 3) throw err;
      }
    }
  };

  /** Background flushes of `syncLater` puts, awaited by settle(). */
  const flushing: Promise<void>[] = [];

  return {
    async ensure() {
      await mkdir(bucketDir, { recursive: true });
    },

    async settle() {
      const all = flushing.splice(0);
      await Promise.all(all);
    },

    async put(key, body, opts = {}) {
      const file = pathOf(key);
      await requireBucket();
      const { tmp, fh } = await openTempFile(file);
      try {
        if (body instanceof Uint8Array) {
          try {
            await fh.writeFile(body);
            await fh.datasync();
          } finally {
            await fh.close();
          }
        } else {
          // The caller's stream is pulled only as fast as the disk takes the bytes (pipeline
          // backpressure). `flush` fsyncs before the stream closes the handle, so the rename below
          // publishes only bytes that are on disk. A source error rejects here; the stream has
          // then closed the handle, and the temp file is removed below.
          let source: Readable;
          try {
            source = Readable.fromWeb(body as unknown as NodeWebReadableStream<Uint8Array>);
          } catch (err) {
            await fh.close(); // e.g. a stream that is already locked: nothing owns the handle yet
            throw err;
          }
          await pipeline(source, fh.createWriteStream({ highWaterMark: 256 * 1024, flush: !opts.syncLater }));
        }
        await rename(tmp, file);
        if (opts.syncLater && !(body instanceof Uint8Array)) {
          // Flush while the caller receives the next file; the inode is the same after a move.
          const flushed = open(file, 'r').then(async (h) => {
            try {
              await h.datasync();
            } finally {
              await h.close();
            }
          });
          flushed.catch(() => {});
          flushing.push(flushed);
        }
      } catch (err) {
        await unlink(tmp).catch(() => {});
        await pruneEmptyDirs(dirname(file));
        throw err;
      }
    },

    async get(key) {
      const file = pathOf(key);
      let fh: FileHandle;
      try {
        fh = await open(file, 'r');
        if (!(await fh.stat()).isFile()) {
          await fh.close();
          return null;
        }
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
      return readFileStream(fh);
    },

    async getBytes(key) {
      const file = pathOf(key);
      try {
        const buf = await readFile(file);
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } catch (err) {
        if (isMissing(err) || isErrno(err, 'EISDIR')) return null;
        throw err;
      }
    },

    async head(key) {
      const file = pathOf(key);
      try {
        const st = await stat(file);
        return st.isFile() ? { size: st.size } : null;
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
    },

    async move(from, to) {
      const src = pathOf(from);
      const dst = pathOf(to);
      if (src === dst) {
        const st = await stat(src).catch(() => null);
        if (!st?.isFile()) throw new Error(`object store: cannot move ${from}: no such key`);
        return;
      }
      for (let attempt = 0; ; attempt++) {
        await mkdir(dirname(dst), { recursive: true });
        try {
          await rename(src, dst);
          break;
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
          // ENOENT is either a missing source or a destination folder pruned by a concurrent delete.
          const st = await stat(src).catch(() => null);
          if (!st?.isFile()) throw new Error(`object store: cannot move ${from}: no such key`, { cause: err });
          if (attempt >= 3) throw err;
        }
      }
      await pruneEmptyDirs(dirname(src));
    },

    async delete(key) {
      const file = pathOf(key);
      try {
        await unlink(file);
      } catch (err) {
        if (isMissing(err) || isErrno(err, 'EISDIR') || isErrno(err, 'EPERM')) return; // no such object
        throw err;
      }
      await pruneEmptyDirs(dirname(file));
    },

    async list(prefix) {
      assertKeyPrefix(prefix);
      // Walk only the deepest folder the prefix fully names, then filter by the full prefix (S3
      // prefixes need not end at a `/`).
      const cut = prefix.lastIndexOf('/');
      const base = cut < 0 ? '' : prefix.slice(0, cut + 1);
      const keys: string[] = [];
      const walk = async (dir: string, keyPrefix: string) => {
        let entries;
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch (err) {
          if (isMissing(err)) return;
          throw err;
        }
        for (const entry of entries) {
          const key = keyPrefix + entry.name;
          if (entry.isDirectory()) {
            if ((key + '/').startsWith(prefix) || prefix.startsWith(key + '/')) await walk(join(dir, entry.name), key + '/');
          } else if (entry.isFile() && !entry.name.startsWith(TEMP_PREFIX) && key.startsWith(prefix)) {
            keys.push(key);
          }
        }
      };
      await walk(base ? join(bucketDir, ...base.slice(0, -1).split('/')) : bucketDir, base);
      // S3 lists in UTF-8 byte order; for the ASCII keys Frostbyte writes that is plain string order.
      return keys.sort();
    },

    async destroy() {
      await rm(bucketDir, { recursive: true, force: true });
    },

    async check() {
      await requireBucket();
      // Proves the folder is writable, not only present (a read-only mount fails here).
      const probe = join(bucketDir, `${TEMP_PREFIX}check-${randomBytes(4).toString('hex')}`);
      await writeFile(probe, '');
      await unlink(probe);
    },
  };
}

/** Temp files of in-flight writes start with this; keys may not use it, so list() can skip them. */
const TEMP_PREFIX = '.fb-tmp-';
/** Read size for get(): 256 KiB keeps syscalls few without holding much memory per reader. */
const READ_CHUNK_BYTES = 256 * 1024;

function readFileStream(fh: FileHandle): ReadableStream<Uint8Array> {
  let done = false;
  const finish = async () => {
    if (done) return;
    done = true;
    await fh.close().catch(() => {});
  };
  // Pull-based: a new chunk is read only when the consumer asks, so a slow reader holds at most
  // one chunk in memory.
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const buf = new Uint8Array(READ_CHUNK_BYTES);
          const { bytesRead } = await fh.read(buf, 0, buf.byteLength, null);
          if (bytesRead === 0) {
            await finish();
            controller.close();
            return;
          }
          controller.enqueue(bytesRead === buf.byteLength ? buf : buf.subarray(0, bytesRead));
        } catch (err) {
          await finish();
          controller.error(err);
        }
      },
      async cancel() {
        await finish();
      },
    },
    { highWaterMark: 0 },
  );
}

/** Bucket names follow S3's rules (3–63 of a-z 0-9 . -), which also makes them one safe folder name. */
function assertBucketName(bucket: string) {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new Error(`invalid bucket name: ${JSON.stringify(bucket)}`);
  }
}

/**
 * Keys are relative `/`-separated paths: no empty, `.` or `..` segments, no leading `/`, no
 * backslashes or control characters, at most 1024 bytes (S3's limit). The S3 store applies the
 * same rules, so a key that works embedded also works in production. This store also reserves
 * segments starting with the temp-file prefix, which keeps every key inside the bucket folder and
 * out of the way of in-flight writes.
 */
export function assertObjectKey(key: string) {
  assertKey(key, TEMP_PREFIX);
}

function assertKeyPrefix(prefix: string) {
  assertPrefix(prefix, TEMP_PREFIX);
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** ENOTDIR: a key whose "folder" is really an object (`a/b` when `a` is a file). */
function isMissing(err: unknown): boolean {
  return isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR');
}
