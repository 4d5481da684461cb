import { createHash } from 'node:crypto';
import type { Sha256Factory } from '../hash';

/** Native incremental SHA-256 (OpenSSL, SHA-NI where the CPU has it). */
export const nodeSha256: Sha256Factory = () => {
  const h = createHash('sha256');
  return {
    update: (chunk) => {
      h.update(chunk);
    },
    digestHex: () => h.digest('hex'),
  };
};
