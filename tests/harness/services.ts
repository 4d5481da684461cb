import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { S3ClientSettings } from '../../shared/storage/s3-store';

/**
 * Values tests/harness/global-setup.ts provides once per run (vitest `provide`/`inject`). Tests
 * call the helpers below rather than `inject` directly.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    /** s3rver started for this run, e.g. `http://127.0.0.1:40123` (path-style buckets). */
    s3Endpoint: string;
    s3Region: string;
    s3AccessKeyId: string;
    s3SecretAccessKey: string;
    /** clamd started for this run with the EICAR-only signature database. */
    clamdHost: string;
    clamdPort: number;
    /** PostgreSQL server with trust auth; `postgres://postgres@127.0.0.1:5432/test` unless TEST_DATABASE_URL is set. */
    databaseUrl: string;
  }
}

export function s3Settings(): S3ClientSettings {
  return {
    endpoint: inject('s3Endpoint'),
    region: inject('s3Region'),
    accessKeyId: inject('s3AccessKeyId'),
    secretAccessKey: inject('s3SecretAccessKey'),
    forcePathStyle: true,
  };
}

export function clamdSettings(): { host: string; port: number } {
  return { host: inject('clamdHost'), port: inject('clamdPort') };
}

export function databaseUrl(): string {
  return inject('databaseUrl');
}

/** A name no other test uses, valid as an S3 bucket name and a tenant id (lower-case, digits, `-`). */
export function uniqueName(prefix = 'fbt'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}
