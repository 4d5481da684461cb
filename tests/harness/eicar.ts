/**
 * The EICAR anti-virus test file (68 bytes), assembled at run time so this source file itself is
 * not flagged by scanners on developer machines. It is harmless by definition.
 */
const EICAR_TEXT = ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$', 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'].join('');

export function eicarBytes(): Uint8Array {
  return new TextEncoder().encode(EICAR_TEXT);
}

/**
 * A ClamAV body signature (`.ndb`: name:target type 0 = any file:offset * = anywhere:hex) that
 * matches the EICAR string anywhere in a file, also inside a larger one. clamd reports it as
 * `Eicar-Test-Signature.UNOFFICIAL` because the database is unsigned.
 */
export function eicarNdbSignature(): string {
  return `Eicar-Test-Signature:0:*:${Buffer.from(EICAR_TEXT, 'latin1').toString('hex')}\n`;
}
