import { desc, isNull } from 'drizzle-orm';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Clock } from '../clock';
import { signingKeys } from '../db/schema/control';
import type { Db } from '../db/types';
import { newId } from '../ids';

/**
 * The platform's Ed25519 signing keys: they sign API tokens and audit-export manifests. Every
 * key that is not yet past its retirement window is published in the JWKS, so tokens signed by
 * the previous key keep verifying while they live.
 */
export interface KeyRing {
  /** The key new signatures use. */
  active(): Promise<{ kid: string; key: CryptoKey }>;
  /** Public keys for `/.well-known/jwks.json` and for offline verification. */
  jwks(): Promise<{ keys: JWK[] }>;
  /** Drops cached keys (after a rotation in another process). */
  refresh(): void;
}

export const SIGNING_ALG = 'EdDSA';

export async function createSigningKey(db: Db, clock: Clock): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { crv: 'Ed25519', extractable: true });
  const kid = newId('key');
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG };
  await db.insert(signingKeys).values({ kid, alg: SIGNING_ALG, publicJwk, privateJwk, createdAt: clock.now() });
  return kid;
}

/** Makes a new active key and retires the others (they stay in the JWKS). */
export async function rotateSigningKey(db: Db, clock: Clock): Promise<string> {
  await db.update(signingKeys).set({ retiredAt: clock.now() }).where(isNull(signingKeys.retiredAt));
  return createSigningKey(db, clock);
}

export function dbKeyRing(db: Db, clock: Clock): KeyRing {
  let cached: Promise<{ kid: string; key: CryptoKey; jwks: { keys: JWK[] } }> | null = null;
  const load = async () => {
    let rows = await db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt));
    if (!rows.some((r) => r.retiredAt === null)) {
      await createSigningKey(db, clock);
      rows = await db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt));
    }
    const current = rows.find((r) => r.retiredAt === null);
    if (!current) throw new Error('no active signing key');
    const key = (await importJWK(current.privateJwk as JWK, SIGNING_ALG)) as CryptoKey;
    return { kid: current.kid, key, jwks: { keys: rows.map((r) => r.publicJwk as JWK) } };
  };
  const get = () => {
    cached ??= load().catch((e) => {
      cached = null;
      throw e;
    });
    return cached;
  };
  return {
    active: async () => {
      const { kid, key } = await get();
      return { kid, key };
    },
    jwks: async () => (await get()).jwks,
    refresh: () => {
      cached = null;
    },
  };
}
