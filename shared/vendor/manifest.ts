import * as v from 'valibot';
import { ManifestSchema, type Manifest } from '../intake/manifest';
import { SUPPORTED_MIME_TYPES } from '../parse/detect-format';

/** What the manifest builder knows about one local file (the CLI learns it in one streaming read). */
export interface LocalFileFacts {
  filename: string;
  size: number;
  sha256: string;
  /** MIME type decided from the bytes; null when Frostbyte does not parse this kind of file. */
  mime: string | null;
}

export interface ManifestWarning {
  filename: string;
  file_id: string;
  code: 'UNSUPPORTED_FORMAT' | 'EMPTY_FILE' | 'LARGER_THAN_DEFAULT_LIMIT';
  message: string;
}

/** The platform's default per-file limit (MAX_FILE_SIZE_MB = 1024); a tenant's may be lower. */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024;
/** What a manifest declares for bytes intake will not recognise (it rejects them as UNSUPPORTED_FORMAT). */
export const UNKNOWN_MIME = 'application/octet-stream';

const FILE_ID_MAX = 128;

/** Characters a multipart filename cannot carry unchanged (encoders percent-escape them), so intake could not match the part. */
const UNSENDABLE_FILENAME = /["\r\n]/;

const sanitize = (s: string) => s.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, FILE_ID_MAX) || 'file';
const stemOf = (filename: string) => {
  const dot = filename.lastIndexOf('.');
  return dot > 0 ? filename.slice(0, dot) : filename;
};

/**
 * Stable file ids from filenames: the name without its extension (`contract_001.pdf` →
 * `contract_001`), characters outside the file_id alphabet as `_`. Names whose stems collide
 * keep their extension (`a.pdf`, `a.docx`); anything still equal gets `-2`, `-3`… in input order.
 * The same list of names always gives the same ids, so a rebuilt manifest names files the same way.
 */
export function fileIdsFor(filenames: readonly string[]): string[] {
  const stems = filenames.map((f) => sanitize(stemOf(f)));
  const stemCount = new Map<string, number>();
  for (const s of stems) stemCount.set(s, (stemCount.get(s) ?? 0) + 1);
  const wanted = filenames.map((f, i) => ((stemCount.get(stems[i]) ?? 0) > 1 ? sanitize(f) : stems[i]));
  const used = new Set<string>();
  return wanted.map((id) => {
    let candidate = id;
    for (let n = 2; used.has(candidate); n++) candidate = `${id.slice(0, FILE_ID_MAX - String(n).length - 1)}-${n}`;
    used.add(candidate);
    return candidate;
  });
}

export class ManifestBuildError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot build the manifest:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ManifestBuildError';
  }
}

/**
 * Builds a manifest in the schema intake validates with, and the warnings a vendor should see
 * before sending anything: files whose bytes Frostbyte will reject, empty files and files above
 * the platform's default size limit. Throws ManifestBuildError for what cannot be sent at all.
 */
export function buildManifest(input: {
  tenantId: string;
  batchId: string;
  files: readonly LocalFileFacts[];
  submitter?: string;
  submittedAt?: string;
  fileIds?: readonly string[];
}): { manifest: Manifest; warnings: ManifestWarning[] } {
  const problems: string[] = [];
  if (!input.files.length) problems.push('no files to send');
  const seen = new Set<string>();
  for (const f of input.files) {
    if (UNSENDABLE_FILENAME.test(f.filename)) problems.push(`${JSON.stringify(f.filename)}: rename it; quotes and line breaks cannot travel in a multipart filename`);
    if (seen.has(f.filename)) problems.push(`${f.filename}: two files have this name; rename one (parts are matched to the manifest by filename)`);
    seen.add(f.filename);
  }
  const ids = input.fileIds ?? fileIdsFor(input.files.map((f) => f.filename));
  const candidate = {
    batch_id: input.batchId,
    tenant_id: input.tenantId,
    file_count: input.files.length,
    files: input.files.map((f, i) => ({ file_id: ids[i], filename: f.filename, mime_type: f.mime ?? UNKNOWN_MIME, size_bytes: f.size, sha256: f.sha256 })),
    ...(input.submittedAt ? { submitted_at: input.submittedAt } : {}),
    ...(input.submitter ? { submitter: input.submitter } : {}),
  };
  const parsed = v.safeParse(ManifestSchema, candidate);
  if (!parsed.success) for (const issue of parsed.issues) problems.push(`${v.getDotPath(issue) ?? 'manifest'}: ${issue.message}`);
  if (problems.length || !parsed.success) throw new ManifestBuildError(problems);
  return { manifest: parsed.output, warnings: warningsFor(parsed.output.files, input.files) };
}

function warningsFor(entries: Manifest['files'], facts: readonly LocalFileFacts[]): ManifestWarning[] {
  const warnings: ManifestWarning[] = [];
  entries.forEach((e, i) => {
    const f = facts[i];
    const at = { filename: e.filename, file_id: e.file_id };
    if (f.size === 0) warnings.push({ ...at, code: 'EMPTY_FILE', message: 'the file is empty; intake will reject it as UNSUPPORTED_FORMAT' });
    else if (!f.mime || !SUPPORTED_MIME_TYPES.includes(f.mime)) {
      warnings.push({ ...at, code: 'UNSUPPORTED_FORMAT', message: 'the bytes are not PDF, DOCX, XLSX, PPTX, TXT, CSV, PNG or TIFF; intake will reject it as UNSUPPORTED_FORMAT' });
    }
    if (f.size > DEFAULT_MAX_FILE_BYTES) {
      warnings.push({ ...at, code: 'LARGER_THAN_DEFAULT_LIMIT', message: `${f.size} bytes is above the default limit of 1024 MiB; unless your tenant's limit is higher it will be rejected as SIZE_EXCEEDED` });
    }
  });
  return warnings;
}

/** The manifest's entries whose bytes intake will reject by format (so a caller can leave them out). */
export function isSendable(f: LocalFileFacts): boolean {
  return f.size > 0 && !!f.mime && SUPPORTED_MIME_TYPES.includes(f.mime);
}

/** Reads and validates a manifest file's JSON with the intake schema. */
export function parseManifest(json: unknown): Manifest {
  const parsed = v.safeParse(ManifestSchema, json);
  if (!parsed.success) throw new ManifestBuildError(parsed.issues.map((i) => `${v.getDotPath(i) ?? 'manifest'}: ${i.message}`));
  return parsed.output;
}
