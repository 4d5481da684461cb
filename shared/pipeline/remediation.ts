/** What a vendor should do about each reason code; shown in acceptance reports and the guide. */
export const REMEDIATION: Record<string, string> = {
  CHECKSUM_MISMATCH: 'Recompute the hash (`sha256sum <file>` or PowerShell `Get-FileHash -Algorithm SHA256`); if the file changed after hashing, fix the manifest and resubmit only this file.',
  UNSUPPORTED_FORMAT: 'Send PDF, DOCX, XLSX, PPTX, TXT, CSV, PNG or TIFF, and declare the mime_type that matches the bytes.',
  SIZE_EXCEEDED: "Split the document, or ask the platform team to raise the tenant's max_file_size_mb.",
  MISSING_FILE: 'Add a `files` part whose filename matches the manifest entry, and resubmit that file.',
  MALWARE_DETECTED: 'Do not resend. Have your security team check the file; contact support with the receipt_id if it is a false positive.',
  SCAN_FAILED: 'The malware scan did not finish; resubmit the file. If it repeats, contact support with the receipt_id.',
  FILE_CORRUPTED: 'The file is damaged or truncated: re-export it from the source system and resubmit.',
  ENCRYPTED_PDF: 'Remove the password protection (print to PDF or save without a password) and resubmit.',
  UNSUPPORTED_CONTENT: 'The file has no extractable text or uses an unsupported feature: send a text-based version or a clearer scan.',
  PARSE_TIMEOUT: 'The document took too long to parse: split it into smaller files and resubmit.',
  RESOURCE_LIMIT: 'The document exceeds parsing limits (pages, cells, pixels or compression): split it and resubmit.',
  RETRIES_EXHAUSTED: 'A platform-side failure, not your file: support can retry it (`frostbyte retry`).',
};

export function remediationFor(code: string | null | undefined): string | null {
  return code ? (REMEDIATION[code] ?? 'Contact support with the batch_id and file_id.') : null;
}
