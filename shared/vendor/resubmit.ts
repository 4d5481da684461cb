import type { Manifest, ManifestFile } from '../intake/manifest';
import type { BatchStatusBody } from './api-schemas';
import { isSendable, UNKNOWN_MIME, type LocalFileFacts } from './manifest';

/** A file of an earlier batch that intake rejected, with what it said. */
export interface RejectedFile {
  file_id: string;
  filename: string;
  reason: string;
  message: string;
  /** SHA-256 of the bytes intake received (null when none arrived: MISSING_FILE). */
  received_sha256: string | null;
}

/**
 * The files to send again: those `rejected` at intake. Quarantined files are left out on purpose
 * (MALWARE_DETECTED: "do not resend"), and so are pipeline failures, which support retries on the
 * platform side (`frostbyte retry`) without a new upload.
 */
export function rejectedFilesOf(status: BatchStatusBody): { resend: RejectedFile[]; leftOut: { file_id: string; status: string; reason: string | null }[] } {
  const resend: RejectedFile[] = [];
  const leftOut: { file_id: string; status: string; reason: string | null }[] = [];
  for (const f of status.files) {
    if (f.status === 'rejected') {
      resend.push({ file_id: f.file_id, filename: f.original_filename, reason: f.error?.code ?? 'REJECTED', message: f.error?.message ?? '', received_sha256: f.sha256 });
    } else if (f.status === 'quarantined' || f.status === 'parse_failed' || f.status === 'index_failed') {
      leftOut.push({ file_id: f.file_id, status: f.status, reason: f.error?.code ?? null });
    }
  }
  return { resend, leftOut };
}

export interface FieldChange {
  file_id: string;
  field: 'sha256' | 'size_bytes' | 'mime_type';
  /** What the original manifest declared (null when it is not at hand). */
  before: string | number | null;
  after: string | number;
}

export interface ResubmitPlan {
  entries: ManifestFile[];
  changes: FieldChange[];
  /** Findings worth saying that do not stop the resubmission. */
  notes: string[];
  /** Reasons not to send at all (the command stops and says what to do). */
  problems: string[];
}

/**
 * Manifest entries for the rejected files, from the files on disk. With `fixHashes` the hash,
 * size and type are taken from the bytes on disk, and every difference from the original manifest
 * is reported. Without it the original entries are sent unchanged — but only when the bytes on disk
 * still match them, since anything else would be rejected again as CHECKSUM_MISMATCH.
 */
export function planResubmit(input: {
  rejected: readonly RejectedFile[];
  /** Facts of each rejected file on disk, by file_id; null when the file is not there. */
  disk: ReadonlyMap<string, LocalFileFacts | null>;
  original: Manifest | null;
  fixHashes: boolean;
}): ResubmitPlan {
  const plan: ResubmitPlan = { entries: [], changes: [], notes: [], problems: [] };
  const declaredOf = new Map(input.original?.files.map((f) => [f.file_id, f]) ?? []);
  for (const r of input.rejected) {
    const disk = input.disk.get(r.file_id);
    if (!disk) {
      plan.problems.push(`${r.file_id}: ${r.filename} is not in the directory given with --dir`);
      continue;
    }
    const declared = declaredOf.get(r.file_id) ?? null;
    if (!isSendable(disk)) plan.notes.push(`${r.file_id}: ${r.filename} on disk is still not a supported format (PDF, DOCX, XLSX, PPTX, TXT, CSV, PNG, TIFF); it will be rejected again as UNSUPPORTED_FORMAT`);
    if (r.reason === 'CHECKSUM_MISMATCH' && declared && r.received_sha256 && disk.sha256 === declared.sha256 && r.received_sha256 !== declared.sha256) {
      plan.notes.push(
        `${r.file_id}: the file on disk matches the manifest (${declared.sha256}) but intake received other bytes (${r.received_sha256}): ` +
          'they changed on the way. Sending again; if it repeats, escalate to engineering (docs/runbooks/checksum-mismatch.md).',
      );
    }
    if (input.fixHashes) {
      const entry: ManifestFile = { file_id: r.file_id, filename: r.filename, mime_type: disk.mime ?? declared?.mime_type ?? UNKNOWN_MIME, size_bytes: disk.size, sha256: disk.sha256 };
      const compare = (field: FieldChange['field'], after: string | number) => {
        const before = declared ? declared[field] : null;
        if (before !== after) plan.changes.push({ file_id: r.file_id, field, before, after });
      };
      compare('sha256', entry.sha256);
      compare('size_bytes', entry.size_bytes);
      compare('mime_type', entry.mime_type);
      plan.entries.push(entry);
      continue;
    }
    if (!declared) {
      plan.problems.push(`${r.file_id}: the original manifest is not at hand to resend it unchanged; pass --manifest <the manifest you sent>, or --fix-hashes to take hash, size and type from the file on disk`);
      continue;
    }
    if (disk.sha256 !== declared.sha256) {
      plan.problems.push(
        `${r.file_id}: ${r.filename} on disk has SHA-256 ${disk.sha256}, the manifest says ${declared.sha256}; it would be rejected again. ` +
          'If the file on disk is the one to send, rerun with --fix-hashes.',
      );
      continue;
    }
    plan.entries.push({ ...declared });
  }
  return plan;
}

/** Fresh ids for a resubmission, in order of preference: `batch-001` → `batch-001-r1`, `-r2`…; `batch-001-r1` → `batch-001-r2`, … */
export function* resubmitBatchIds(original: string): Generator<string> {
  const m = /^(.*)-r(\d+)$/.exec(original);
  const base = m ? m[1] : original;
  for (let n = m ? Number(m[2]) + 1 : 1; ; n++) {
    const suffix = `-r${n}`;
    yield `${base.slice(0, 128 - suffix.length)}${suffix}`;
  }
}
