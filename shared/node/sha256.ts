import * as crypto from 'node:crypto';
import type { Sha256Factory } from '../hash';

/**
 * Native incremental SHA-256 (OpenSSL, SHA-NI where the CPU has it). Workers' node:crypto shares
 * this module but may lack the one-shot crypto.hash (Node 20.12+), hence the namespace import.
 */
export const nodeSha256: Sha256Factory = Object.assign(
  () => {
    const h = crypto.createHash('sha256');
    return {
      update: (chunk: Uint8Array) => {
        h.update(chunk);
      },
      digestHex: () => h.digest('hex'),
    };
  },
  typeof crypto.hash === 'function' ? { textHex: (text: string) => crypto.hash('sha256', text, 'hex') } : {},
);
