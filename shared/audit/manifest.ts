import { base64url, CompactSign, compactVerify, createLocalJWKSet, errors, importJWK, type JSONWebKeySet, type JWK } from 'jose';
import * as v from 'valibot';
import { canonicalJson } from './hashing';

/**
 * The manifest of an audit export (DESIGN §6), signed by the platform's Ed25519 key.
 *
 * Signature scheme: `signature` is a JWS in compact serialization with a detached payload
 * (RFC 7515 Appendix F): `<protected header>..<signature>`, both base64url. The payload is the
 * UTF-8 bytes of the RFC 8785 canonical JSON of the manifest without its `signature` member.
 * The protected header is `{"alg":"EdDSA","kid":<kid>,"typ":"frostbyte-audit-manifest+jws"}`.
 * To verify by hand: canonicalize the manifest minus `signature`, base64url it, put it between
 * the two dots, and verify the compact JWS with the JWKS key whose `kid` matches.
 */

export const MANIFEST_TYP = 'frostbyte-audit-manifest+jws';
export const MANIFEST_ALG = 'EdDSA';
export const EXPORT_FORMATS = ['jsonl', 'cef'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const hex64 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'));
const seqNumber = v.pipe(v.number(), v.safeInteger(), v.minValue(1));

export const SignedManifestSchema = v.strictObject({
  tenant_id: v.pipe(v.string(), v.minLength(1)),
  format: v.picklist(EXPORT_FORMATS),
  /** Requested range (ISO-8601, `from` inclusive, `to` exclusive); null when open. */
  from: v.nullable(v.string()),
  to: v.nullable(v.string()),
  /** Present for a resource's provenance export. */
  resource_id: v.optional(v.pipe(v.string(), v.minLength(1))),
  event_count: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  file_sha256: hex64,
  first_seq: v.nullable(seqNumber),
  last_seq: v.nullable(seqNumber),
  first_prev_hash: v.nullable(hex64),
  last_hash: v.nullable(hex64),
  created_at: v.string(),
  kid: v.pipe(v.string(), v.minLength(1)),
  alg: v.literal(MANIFEST_ALG),
  signature: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/, 'must be a detached compact JWS (header..signature)')),
});

export type SignedAuditManifest = v.InferOutput<typeof SignedManifestSchema>;
export type AuditManifest = Omit<SignedAuditManifest, 'signature'>;
export type UnsignedManifestFields = Omit<AuditManifest, 'kid' | 'alg'>;

/** The platform key that signs manifests; `services.keys.active()` gives `{ kid, key }`. */
export interface ManifestSigner {
  kid: string;
  privateKey: CryptoKey | JWK;
}

const encoder = new TextEncoder();

export async function signManifest(fields: UnsignedManifestFields, signer: ManifestSigner): Promise<SignedAuditManifest> {
  const manifest: AuditManifest = { ...fields, kid: signer.kid, alg: MANIFEST_ALG };
  const key = isCryptoKey(signer.privateKey) ? signer.privateKey : await importJWK(signer.privateKey, MANIFEST_ALG);
  const jws = await new CompactSign(encoder.encode(canonicalJson(manifest)))
    .setProtectedHeader({ alg: MANIFEST_ALG, kid: signer.kid, typ: MANIFEST_TYP })
    .sign(key);
  const [header, , signature] = jws.split('.');
  return { ...manifest, signature: `${header}..${signature}` };
}

function isCryptoKey(k: CryptoKey | JWK): k is CryptoKey {
  return typeof (k as CryptoKey).algorithm === 'object' && typeof (k as CryptoKey).type === 'string';
}

export type ManifestCheck =
  | { ok: true; manifest: SignedAuditManifest }
  | { ok: false; code: 'MANIFEST_INVALID' | 'UNKNOWN_KEY' | 'SIGNATURE_INVALID'; reason: string };

/** Validates the manifest's shape, then its signature against the JWKS (`{ keys: [...] }`). */
export async function verifyManifest(input: unknown, jwks: JSONWebKeySet): Promise<ManifestCheck> {
  const parsed = v.safeParse(SignedManifestSchema, input);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = v.getDotPath(issue) ?? 'manifest';
    return { ok: false, code: 'MANIFEST_INVALID', reason: `manifest ${path}: ${issue.message}` };
  }
  const manifest = parsed.output;
  const { signature, ...unsigned } = manifest;
  const [header, sig] = signature.split('..');
  const payload = base64url.encode(encoder.encode(canonicalJson(unsigned)));
  try {
    const { protectedHeader } = await compactVerify(`${header}.${payload}.${sig}`, createLocalJWKSet(jwks), { algorithms: [MANIFEST_ALG] });
    if (protectedHeader.kid !== manifest.kid) {
      return { ok: false, code: 'SIGNATURE_INVALID', reason: `the signature names key ${String(protectedHeader.kid)} but the manifest says ${manifest.kid}` };
    }
    if (protectedHeader.typ !== MANIFEST_TYP) {
      return { ok: false, code: 'SIGNATURE_INVALID', reason: `the signature is not a Frostbyte audit-manifest signature (typ ${String(protectedHeader.typ)})` };
    }
  } catch (err) {
    if (err instanceof errors.JWKSNoMatchingKey) {
      return { ok: false, code: 'UNKNOWN_KEY', reason: `no key in the JWKS matches the signing key (kid ${manifest.kid})` };
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) {
      return { ok: false, code: 'SIGNATURE_INVALID', reason: `the manifest signature does not verify with key ${manifest.kid}: the manifest was altered or signed by another key` };
    }
    return { ok: false, code: 'SIGNATURE_INVALID', reason: `the manifest signature cannot be checked: ${(err as Error).message}` };
  }
  return { ok: true, manifest };
}
