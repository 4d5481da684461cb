import type { Manifest } from '../intake/manifest';
import { remediationFor } from '../pipeline/remediation';
import type { BatchReceiptBody, BatchStatusBody } from './api-schemas';

/** Plain-text table: columns padded to their widest cell, two spaces apart, header underlined. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** Human byte counts (binary units, as `ls -h`). */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let u = 0;
  while (value >= 1024 && u < units.length - 1) {
    value /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[u]}`;
}

/** Durations as `1h02m`, `3m05s`, `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Exit policy of `submit` (docs/vendor-guide.md): success only when every file was taken in.
 * A `duplicate` counts as taken in — the service already holds those exact bytes and the receipt
 * points at the document that has them; sending the file again cannot change that.
 */
export function everyFileAccepted(receipt: BatchReceiptBody): boolean {
  return receipt.receipts.every((r) => r.status === 'accepted' || r.status === 'duplicate');
}

/** The receipt as a table, followed by what to do about each file that was not taken in. */
export function formatReceipt(receipt: BatchReceiptBody, manifest?: Manifest, opts: { advice?: boolean } = {}): string[] {
  const filenames = new Map(manifest?.files.map((f) => [f.file_id, f.filename]) ?? []);
  const problems = new Map<string, { reason: string; message: string }>([...receipt.rejected_files, ...receipt.quarantined_files].map((p) => [p.file_id, p]));
  const rows = receipt.receipts.map((r) => [
    r.file_id,
    filenames.get(r.file_id) ?? '',
    r.status,
    problems.get(r.file_id)?.reason ?? (r.duplicate_of ? `same bytes as ${r.duplicate_of}` : ''),
    r.receipt_id,
  ]);
  const lines = [
    `batch ${receipt.batch_id} · tenant ${receipt.tenant_id} · received ${receipt.received_at} · malware scan: ${receipt.scan_result}`,
    `${receipt.file_count} files: ${receipt.accepted} accepted, ${receipt.duplicates} duplicate, ${receipt.rejected} rejected, ${receipt.quarantined} quarantined`,
    '',
    ...formatTable(manifest ? ['FILE_ID', 'FILENAME', 'STATUS', 'REASON', 'RECEIPT_ID'] : ['FILE_ID', '', 'STATUS', 'REASON', 'RECEIPT_ID'], rows),
  ];
  if (problems.size && opts.advice !== false) {
    lines.push('', 'What to do:');
    for (const [fileId, p] of problems) {
      lines.push(`  ${fileId} — ${p.reason}: ${p.message}`, `    → ${remediationFor(p.reason)}`);
    }
  }
  return lines;
}

type StageName = 'intake' | 'parse' | 'index';
export interface StageCount {
  /** Files that go through this stage (skipped ones left out). */
  total: number;
  done: number;
  failed: number;
  running: number;
}

/** Per-stage progress of a batch, from its status: how many files each stage has finished. */
export function stageCounts(status: BatchStatusBody): Record<StageName, StageCount> {
  const count = (stage: StageName): StageCount => {
    const states = status.files.map((f) => f.stages[stage].state).filter((s) => s !== 'skipped');
    return {
      total: states.length,
      done: states.filter((s) => s === 'done').length,
      failed: states.filter((s) => s === 'failed').length,
      running: states.filter((s) => s === 'running').length,
    };
  };
  return { intake: count('intake'), parse: count('parse'), index: count('index') };
}

export function formatStageLine(status: BatchStatusBody): string {
  const c = stageCounts(status);
  const part = (name: string, s: StageCount) => `${name} ${s.done + s.failed}/${s.total}${s.failed ? ` (${s.failed} failed)` : ''}`;
  return `${status.batch_id}: ${status.status} · ${part('intake', c.intake)} · ${part('parse', c.parse)} · ${part('index', c.index)}`;
}

/** Batch status as a table, then each file's error with what to do. */
export function formatStatus(status: BatchStatusBody): string[] {
  const s = status.summary;
  const rows = status.files.map((f) => [
    f.file_id,
    f.original_filename,
    f.status,
    f.stages.intake.state,
    f.stages.parse.state,
    f.stages.index.state,
    f.error?.code ?? (f.duplicate_of ? `duplicate of ${f.duplicate_of}` : ''),
  ]);
  const lines = [
    `batch ${status.batch_id} · tenant ${status.tenant_id} · ${status.status} · submitted ${status.submitted_at}${status.completed_at ? ` · completed ${status.completed_at}` : ''}`,
    `${s.total_files} files: ${s.indexed} indexed, ${s.processing} processing, ${s.duplicate} duplicate, ${s.failed} failed, ${s.rejected} rejected, ${s.quarantined} quarantined`,
    '',
    ...formatTable(['FILE_ID', 'FILENAME', 'STATUS', 'INTAKE', 'PARSE', 'INDEX', 'REASON'], rows),
  ];
  const failed = status.files.filter((f) => f.error);
  if (failed.length) {
    lines.push('', 'What to do:');
    for (const f of failed) lines.push(`  ${f.file_id} — ${f.error?.code} (${f.error?.stage}): ${f.error?.message}`, `    → ${remediationFor(f.error?.code)}`);
  }
  return lines;
}
