/**
 * Object storage port. Production: one S3 bucket per tenant on MinIO (path-style). Embedded:
 * one folder per tenant. Keys are the same in both (DESIGN §5):
 * `raw/{tenant_id}/{file_id}/{sha256}`, `quarantine/…`, `parsed/{tenant}/{doc_id}/{parser_version}.json`,
 * `audit-exports/…`.
 */
export interface ObjectStore {
  /** Creates the bucket or folder if it does not exist yet. Idempotent. */
  ensure(): Promise<void>;
  /**
   * Streams `body` to `key`; resolves once the object is complete and durable. Never buffers the
   * whole body. With `syncLater`, a store whose writes are not durable on return (a local disk)
   * may resolve before flushing and finish that in the background: `settle()` waits for it.
   */
  put(key: string, body: ReadableStream<Uint8Array> | Uint8Array, opts?: { contentType?: string; syncLater?: boolean }): Promise<void>;
  /** Resolves when every `syncLater` put of this store object is durable (rejects if one failed). */
  settle?(): Promise<void>;
  get(key: string): Promise<ReadableStream<Uint8Array> | null>;
  getBytes(key: string): Promise<Uint8Array | null>;
  head(key: string): Promise<{ size: number } | null>;
  /** Moves an object within the bucket (staging → final). Overwrites `to`. */
  move(from: string, to: string): Promise<void>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
  /** Removes the bucket or folder and everything in it (deprovisioning). */
  destroy(): Promise<void>;
  /** Readiness probe: throws when storage cannot be reached. */
  check(): Promise<void>;
  /** Which keys sign this store's object requests; absent where there are none (a local folder). */
  readonly credentials?: BucketCredentials;
}

/**
 * How a tenant's bucket is reached (S3_TENANT_CREDENTIALS): `shared`, the platform's S3 key, which
 * reaches every tenant's bucket; `sts`, a temporary session from the S3 server's STS AssumeRole
 * API whose session policy names only this bucket.
 */
export type BucketCredentials = 'shared' | 'sts';

/**
 * The credentials scoped to one bucket could not be obtained (the STS call failed). `cause` is
 * the STS client's error; whether trying again can help follows from it.
 */
export class BucketCredentialsError extends Error {
  constructor(
    readonly bucket: string,
    readonly endpoint: string,
    cause: unknown,
  ) {
    super(
      `could not obtain credentials scoped to bucket ${bucket} from the STS AssumeRole API at ${endpoint}: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        'S3_TENANT_CREDENTIALS=sts needs an S3 server with STS (MinIO, AWS) and a platform key allowed to call AssumeRole ' +
        '(on MinIO a user made with `mc admin user add`, not the root credentials or an access key); S3_TENANT_CREDENTIALS=shared signs with the platform key instead',
      { cause },
    );
    this.name = 'BucketCredentialsError';
  }
}

/** Builds the store of one tenant. */
export type ObjectStoreFactory = (bucket: string) => ObjectStore;

export const rawKey = (tenantId: string, fileId: string, sha256: string) => `raw/${tenantId}/${fileId}/${sha256}`;
export const quarantineKey = (tenantId: string, fileId: string, sha256: string) => `quarantine/${tenantId}/${fileId}/${sha256}`;
export const parsedKey = (tenantId: string, docId: string, parserVersion: string) => `parsed/${tenantId}/${docId}/${parserVersion}.json`;
export const stagingKey = (tenantId: string, uploadId: string) => `staging/${tenantId}/${uploadId}`;

/**
 * Keys are relative `/`-separated paths: no empty, `.` or `..` segments, no leading `/`, no
 * backslashes or control characters, at most 1024 bytes (S3's limit). Both stores apply the same
 * rules, so a key that works embedded also works in production. `reserved` names segment
 * prefixes a store keeps for itself (the local store's temp files).
 */
export function isValidKeyPath(key: string, isPrefix: boolean, reserved?: string): boolean {
  if (isPrefix && key === '') return true;
  if (key === '' || new TextEncoder().encode(key).byteLength > 1024) return false;
  if (/[\u0000-\u001f\u007f\\]/.test(key)) return false;
  const segments = key.split('/');
  // A prefix may end with `/` (an empty last segment); a key may not.
  const checked = isPrefix && key.endsWith('/') ? segments.slice(0, -1) : segments;
  return checked.every((s) => s !== '' && s !== '.' && s !== '..' && !(reserved && s.startsWith(reserved)));
}

export function assertObjectKey(key: string, reserved?: string) {
  if (!isValidKeyPath(key, false, reserved)) throw new Error(`invalid object key: ${JSON.stringify(key)}`);
}

export function assertKeyPrefix(prefix: string, reserved?: string) {
  if (!isValidKeyPath(prefix, true, reserved)) throw new Error(`invalid object key prefix: ${JSON.stringify(prefix)}`);
}
