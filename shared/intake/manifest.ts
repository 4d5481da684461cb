import * as v from 'valibot';
import { TENANT_ID_PATTERN } from '../ids';

/** The batch manifest (DESIGN §4). sha256 is accepted in either case and kept lower-case. */
export const ManifestFileSchema = v.object({
  file_id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1–128 letters, digits, dots, dashes, underscores or colons')),
  filename: v.pipe(v.string(), v.minLength(1, 'must not be empty'), v.maxLength(512, 'must be at most 512 characters')),
  mime_type: v.pipe(v.string(), v.regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a MIME type such as application/pdf')),
  size_bytes: v.pipe(v.number('must be a number'), v.integer('must be a whole number'), v.minValue(0, 'must not be negative')),
  sha256: v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (SHA-256)'), v.toLowerCase()),
});

export const ManifestSchema = v.object({
  batch_id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1–128 letters, digits, dots, dashes, underscores or colons')),
  tenant_id: v.pipe(v.string(), v.regex(TENANT_ID_PATTERN, 'must be a tenant id (DNS label)')),
  file_count: v.pipe(v.number('must be a number'), v.integer('must be a whole number'), v.minValue(1, 'must be at least 1')),
  files: v.pipe(v.array(ManifestFileSchema, 'must be an array'), v.minLength(1, 'must list at least one file')),
  submitted_at: v.optional(v.pipe(v.string(), v.check((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 timestamp'))),
  submitter: v.optional(v.pipe(v.string(), v.maxLength(320))),
});

export type Manifest = v.InferOutput<typeof ManifestSchema>;
export type ManifestFile = v.InferOutput<typeof ManifestFileSchema>;
