import { CloudProviderError } from './cloud/cloud-provider';
import { AppError } from '../http/errors';
import { RetryableStepError } from '../queue/step';
import { BucketCredentialsError } from '../storage/object-store';
import { TenantHealthError } from './health-check';

/**
 * How a provisioning step failed, in the words the status table and the audit log use.
 * `retryable` says whether running the same step again later can succeed: the queue retries
 * those; the others fail the step (and the tenant) at once so an engineer can look.
 */
export interface StepFailure {
  code: string;
  message: string;
  retryable: boolean;
}

// SQLSTATE classes that pass: connection (08), resources (53), operator intervention/shutdown (57),
// serialization and deadlocks (40), lock not available (55P03), and `too_many_connections` (53300).
const TRANSIENT_SQLSTATE = /^(08|53|57|40)|^55P03$/;
// Node system errors of a network that may come back.
const TRANSIENT_SYSCALL = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);
// Local filesystem and permission problems do not fix themselves.
const PERMANENT_SYSCALL = new Set(['ENOENT', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'ENOTDIR', 'EISDIR']);

/**
 * Classifies an error thrown by a step. Walks `cause` (drizzle wraps driver errors), and treats
 * what it cannot name as retryable: the queue's attempt limit still ends it as a failure, and a
 * network blip is far more common than a new kind of permanent fault.
 */
export function describeStepError(err: unknown): StepFailure {
  const message = messageOf(err);
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof CloudProviderError) return { code: e.code, message: e.message, retryable: e.retryable };
    if (e instanceof RetryableStepError) return { code: 'retryable', message: e.message, retryable: true };
    if (e instanceof TenantHealthError) return { code: e.code, message: e.message, retryable: e.retryable };
    if (e instanceof AppError) return { code: e.code, message: e.detail, retryable: e.status >= 500 };
    if (e instanceof BucketCredentialsError) {
      // The STS call's own failure decides: a refusal stays one, a network blip or 5xx may pass.
      const inner = describeStepError(e.cause);
      return { code: `sts_${inner.code.replace(/^s3_/, '')}`, message, retryable: inner.retryable };
    }
    if (typeof e !== 'object') break;
    const rec = e as Record<string, unknown>;
    const code = typeof rec.code === 'string' ? rec.code : undefined;
    if (code && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E')) {
      return { code: `sqlstate_${code}`, message, retryable: TRANSIENT_SQLSTATE.test(code) };
    }
    if (code && TRANSIENT_SYSCALL.has(code)) return { code: code.toLowerCase(), message, retryable: true };
    if (code && PERMANENT_SYSCALL.has(code)) return { code: code.toLowerCase(), message, retryable: false };
    // AWS SDK v3 (S3/MinIO): the HTTP status says whether the request may succeed later.
    const meta = rec.$metadata as { httpStatusCode?: number } | undefined;
    if (meta?.httpStatusCode !== undefined) {
      const status = meta.httpStatusCode;
      return { code: `s3_${String(rec.name ?? status)}`, message, retryable: status >= 500 || status === 429 || rec.$retryable !== undefined };
    }
    if (rec.name === 'TimeoutError' || rec.name === 'AbortError') return { code: 'timeout', message, retryable: true };
  }
  return { code: 'unexpected', message, retryable: true };
}

function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // Errors land in the status table and audit details: keep them short.
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}
