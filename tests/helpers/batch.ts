import { createHash } from 'node:crypto';
import { pdfFile } from '../../shared/node/sample-pdf';

export interface TestFile {
  file_id: string;
  filename: string;
  mime_type: string;
  bytes: Uint8Array;
  /** Override what the manifest claims. */
  sha256?: string;
  size_bytes?: number;
}

export const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export function manifestFor(tenantId: string, batchId: string, files: TestFile[], extra: Record<string, unknown> = {}) {
  return {
    batch_id: batchId,
    tenant_id: tenantId,
    file_count: files.length,
    files: files.map((f) => ({
      file_id: f.file_id,
      filename: f.filename,
      mime_type: f.mime_type,
      size_bytes: f.size_bytes ?? f.bytes.length,
      sha256: f.sha256 ?? sha256(f.bytes),
    })),
    ...extra,
  };
}

/** multipart/form-data exactly as `curl -F manifest=@manifest.json;type=application/json -F files=@…` sends it. */
export function batchForm(manifest: unknown, files: { filename: string; bytes: Uint8Array; type?: string }[]) {
  const form = new FormData();
  form.append('manifest', new Blob([typeof manifest === 'string' ? manifest : JSON.stringify(manifest)], { type: 'application/json' }), 'manifest.json');
  for (const f of files) form.append('files', new Blob([new Uint8Array(f.bytes)], { type: f.type ?? 'application/octet-stream' }), f.filename);
  return form;
}

export const text = (s: string) => new TextEncoder().encode(s);

/** A tiny valid PDF with one line of text. */
export function tinyPdf(line = 'Master services agreement'): Uint8Array {
  const content = `BT /F1 12 Tf 72 720 Td (${line}) Tj ET`;
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  return pdfFile(objs, 1);
}
