/**
 * Incremental SHA-256. WebCrypto has no streaming digest, so the runtime entry wires one in:
 * Node and Workers (nodejs_compat) both hand over `node:crypto`'s native hash, which keeps
 * intake near `sha256sum` speed.
 */
export interface Sha256 {
  update(chunk: Uint8Array): void;
  digestHex(): string;
}
export type Sha256Factory = (() => Sha256) & {
  /**
   * One-shot SHA-256 hex of a text's UTF-8 bytes, where the runtime has one (Node's crypto.hash):
   * about twice as fast as a streaming hash for a short text, which counts when an audit export
   * hashes a million events.
   */
  textHex?: (text: string) => string;
};

const encoder = new TextEncoder();

export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  const digest = await crypto.subtle.digest('SHA-256', bytes as BufferSource);
  return toHex(new Uint8Array(digest));
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}
