import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertKeyPrefix, assertObjectKey, type ObjectStore } from './object-store';

export interface S3ClientSettings {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** MinIO and s3rver address buckets by path (`http://host/bucket/key`); AWS also accepts it. */
  forcePathStyle: boolean;
}

export interface S3ClientOptions {
  /**
   * Signs with this provider instead of the settings' key (a tenant's session scoped to its
   * bucket, tenant-credentials.ts). The client caches what it returns and asks again five minutes
   * before the credentials expire.
   */
  credentials?: S3ClientConfig['credentials'];
  /**
   * Sends through this client's connection pool, so per-tenant clients add no sockets of their
   * own. A client made so must never be destroyed: that would close the pool it borrows.
   */
  connectionsOf?: S3Client;
}

/**
 * One client per process, shared by every tenant's store (with S3_TENANT_CREDENTIALS=sts, one
 * more per tenant bucket, each with its own credentials). Checksums only where S3 requires them:
 * with the SDK default (WHEN_SUPPORTED) streamed bodies are sent `aws-chunked` with a trailing
 * checksum, which non-AWS servers store verbatim (a corrupted object) or reject. Intake computes
 * its own SHA-256 of every byte anyway.
 */
export function createS3Client(settings: S3ClientSettings, opts: S3ClientOptions = {}): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    credentials: opts.credentials ?? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(opts.connectionsOf ? { requestHandler: opts.connectionsOf.config.requestHandler } : {}),
  });
}

export interface S3StoreOptions {
  /** Multipart part size in bytes; S3's minimum and the default is 5 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded at once. Memory per streamed put is about (queueSize + 1) × partSize. Default 2. */
  queueSize?: number;
  /**
   * Set when `client` signs with a session scoped to this bucket's objects (S3_TENANT_CREDENTIALS=sts):
   * such a session cannot create or delete its own bucket, so `ensure` and `destroy` go through
   * this client, which holds the platform's key. Object requests and `check` stay on `client`.
   */
  bucketAdmin?: S3Client;
}

const MIB = 1024 * 1024;
/** DeleteObjects takes at most 1000 keys per request. */
const DELETE_BATCH = 1000;

/**
 * A tenant's bucket on S3/MinIO. Streamed bodies of unknown length go up as a multipart upload
 * with bounded parts, so memory stays flat whatever the object size; if the source stream fails
 * the multipart upload is aborted and no object appears. Objects of known length (a Uint8Array)
 * are one PutObject.
 */
export function createS3Store(client: S3Client, bucket: string, opts: S3StoreOptions = {}): ObjectStore {
  const partSize = opts.partSizeBytes ?? 5 * MIB;
  const queueSize = opts.queueSize ?? 2;
  const admin = opts.bucketAdmin ?? client;

  const headBucket = async (): Promise<boolean> => {
    try {
      await admin.send(new HeadBucketCommand({ Bucket: bucket }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  };

  const deleteKeys = async (keys: string[]) => {
    if (keys.length === 0) return;
    // MD5 rather than the SDK's CRC32: S3 requires a checksum here and MinIO only accepts Content-MD5.
    const res = await admin.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true }, ChecksumAlgorithm: 'MD5' }),
    );
    const failed = res.Errors ?? [];
    if (failed.length > 0) {
      throw new Error(`object store: could not delete ${failed.length} object(s) from ${bucket}, first ${failed[0].Key}: ${failed[0].Code} ${failed[0].Message}`);
    }
  };

  /** Aborts unfinished multipart uploads so nothing billable stays behind; servers without the API (s3rver) are skipped. */
  const abortOpenUploads = async () => {
    let res;
    try {
      res = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    } catch (err) {
      // HTTP 501: the server has no multipart listing (s3rver); there is nothing to abort.
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 501) return;
      throw err;
    }
    for (const u of res.Uploads ?? []) {
      await admin.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
    }
  };

  const listKeys = async function* (prefix: string, via: S3Client = client): AsyncGenerator<string[]> {
    for await (const page of paginateListObjectsV2({ client: via }, { Bucket: bucket, ...(prefix ? { Prefix: prefix } : {}) })) {
      yield (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
    }
  };

  const createBucket = async () => {
    if (await headBucket()) return;
    try {
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      // A concurrent ensure() won the race; MinIO says "owned by you", s3rver "already exists".
      const name = errorName(err);
      if (name === 'BucketAlreadyOwnedByYou') return;
      if (name === 'BucketAlreadyExists' && (await headBucket())) return;
      throw err;
    }
  };

  return {
    credentials: opts.bucketAdmin ? 'sts' : 'shared',

    async ensure() {
      await createBucket();
      // A scoped session is obtained (one STS call, then cached by the client) and tried on the
      // bucket now, so a server without STS or a key not allowed to use it fails provisioning
      // instead of the tenant's first upload.
      if (admin !== client) await client.send(new HeadBucketCommand({ Bucket: bucket }));
    },

    async put(key, body, putOpts = {}) {
      assertObjectKey(key);
      const contentType = putOpts.contentType ? { ContentType: putOpts.contentType } : {};
      if (body instanceof Uint8Array) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.byteLength, ...contentType }));
        return;
      }
      const source = trackSource(body);
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: source.stream, ...contentType },
        partSize,
        queueSize,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (err) {
        // Unblock the producer if the upload failed on the server side, and report the source's
        // own error when it was the cause (the SDK may replace it with the abort call's outcome).
        await source.cancel(err);
        if (source.failure) throw source.failure.error;
        throw err;
      }
    },

    async get(key) {
      assertObjectKey(key);
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!res.Body) throw new Error(`object store: GetObject ${key} returned no body`);
        return res.Body.transformToWebStream() as ReadableStream<Uint8Array>;
      } catch (err) {
        if (isMissingKey(err)) return null;
        throw err;
      }
    },

    async getBytes(key) {
      assertObjectKey(key);
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!res.Body) throw new Error(`object store: GetObject ${key} returned no body`);
        return await res.Body.transformToByteArray();
      } catch (err) {
        if (isMissingKey(err)) return null;
        throw err;
      }
    },

    async head(key) {
      assertObjectKey(key);
      try {
        const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { size: res.ContentLength ?? 0 };
      } catch (err) {
        // A HEAD response has no body, so a missing key is only a bare 404 `NotFound`.
        if (isNotFound(err)) return null;
        throw err;
      }
    },

    async move(from, to) {
      assertObjectKey(from);
      assertObjectKey(to);
      if (from === to) {
        if (!(await headObjectExists(client, bucket, from))) throw new Error(`object store: cannot move ${from}: no such key`);
        return;
      }
      // S3 has no rename. CopyObject handles objects up to 5 GiB in one request, far above
      // Frostbyte's largest file (MAX_FILE_SIZE_MB, default 1024).
      try {
        await client.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: copySource(bucket, from) }));
      } catch (err) {
        if (isMissingKey(err)) throw new Error(`object store: cannot move ${from}: no such key`, { cause: err });
        throw err;
      }
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: from }));
    },

    async delete(key) {
      assertObjectKey(key);
      // S3 answers 204 for a key that does not exist, which makes delete idempotent.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },

    async list(prefix) {
      assertKeyPrefix(prefix);
      const keys: string[] = [];
      for await (const page of listKeys(prefix)) keys.push(...page);
      return keys;
    },

    async destroy() {
      try {
        for await (const page of listKeys('', admin)) {
          for (let i = 0; i < page.length; i += DELETE_BATCH) await deleteKeys(page.slice(i, i + DELETE_BATCH));
        }
        await abortOpenUploads();
        await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
      } catch (err) {
        if (errorName(err) === 'NoSuchBucket') return; // already gone: destroy is idempotent
        throw err;
      }
    },

    async check() {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    },
  };
}

async function headObjectExists(client: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** `x-amz-copy-source` is URL-encoded `bucket/key`; each key segment is encoded, the `/`s stay. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

interface TrackedSource {
  stream: ReadableStream<Uint8Array>;
  /** Set when reading the caller's stream failed (a client that disconnected, a size check that tripped). */
  failure: { error: unknown } | null;
  cancel(reason: unknown): Promise<void>;
}

/**
 * Passes the caller's stream through one chunk at a time (no extra buffering) while remembering
 * whether the caller's side failed, and lets put() cancel the caller's stream after a server-side
 * failure so its producer does not wait forever.
 */
function trackSource(body: ReadableStream<Uint8Array>): TrackedSource {
  const reader = body.getReader();
  const tracked: TrackedSource = {
    failure: null,
    stream: new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (error) {
            tracked.failure = { error };
            controller.error(error);
            return;
          }
          if (chunk.done) controller.close();
          else controller.enqueue(chunk.value);
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    ),
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  };
  return tracked;
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  return errorName(err) === 'NotFound' || errorName(err) === 'NoSuchKey' || errorName(err) === 'NoSuchBucket' || httpStatus(err) === 404;
}

/** A missing key, but not a missing bucket: that is a provisioning fault and must surface. */
function isMissingKey(err: unknown): boolean {
  return errorName(err) === 'NoSuchKey';
}

