import type { DataPlane } from '../tenants/data-plane';
import { loadBatch, summaryOf } from '../intake/batch-status';
import { remediationFor } from './remediation';

/** The acceptance report of a batch: per-file outcome, pages, chunks, warnings, and what to do. */
export async function buildBatchReport(plane: DataPlane, batchId: string) {
  const { batch, rows } = await loadBatch(plane, batchId);
  return {
    batch_id: batch.batchId,
    tenant_id: plane.tenantId,
    status: batch.status,
    submitted_at: batch.submittedAt.toISOString(),
    completed_at: batch.completedAt?.toISOString() ?? null,
    summary: summaryOf(rows.map((r) => r.status)),
    files: rows.map((f) => ({
      file_id: f.fileId,
      doc_id: f.docId,
      original_filename: f.originalFilename,
      status: f.status,
      sha256: f.sha256,
      size_bytes: f.sizeBytes,
      mime_type: f.detectedMime ?? f.declaredMime,
      pages: f.metrics?.pages ?? null,
      chunks: f.metrics?.chunks ?? null,
      warnings: f.metrics?.warnings ?? [],
      duplicate_of: f.duplicateOf,
      error: f.error ?? null,
      remediation: remediationFor(f.error?.code),
    })),
  };
}

export type BatchReport = Awaited<ReturnType<typeof buildBatchReport>>;

const cell = (v: unknown) => String(v ?? '—').replaceAll('|', '\\|').replaceAll('\n', ' ');

export function reportMarkdown(r: BatchReport): string {
  const s = r.summary;
  const lines = [
    `# Acceptance report — batch ${r.batch_id}`,
    '',
    `Tenant **${r.tenant_id}** · status **${r.status}** · submitted ${r.submitted_at}${r.completed_at ? ` · completed ${r.completed_at}` : ''}`,
    '',
    `| files | indexed | processing | failed | rejected | quarantined | duplicate |`,
    `|---|---|---|---|---|---|---|`,
    `| ${s.total_files} | ${s.indexed} | ${s.processing} | ${s.failed} | ${s.rejected} | ${s.quarantined} | ${s.duplicate} |`,
    '',
    '## Files',
    '',
    '| file_id | filename | status | pages | chunks | warnings | reason |',
    '|---|---|---|---|---|---|---|',
    ...r.files.map((f) => `| ${cell(f.file_id)} | ${cell(f.original_filename)} | ${f.status} | ${cell(f.pages)} | ${cell(f.chunks)} | ${f.warnings.length} | ${cell(f.error?.code)} |`),
  ];
  const failures = r.files.filter((f) => f.error);
  if (failures.length) {
    lines.push('', '## What to do', '');
    for (const f of failures) lines.push(`- **${f.file_id}** (${f.error?.code}): ${f.error?.message} — ${f.remediation}`);
  }
  return `${lines.join('\n')}\n`;
}
