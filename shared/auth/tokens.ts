import { and, eq, gt } from 'drizzle-orm';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import * as v from 'valibot';
import type { Clock } from '../clock';
import { revokedTokens } from '../db/schema/control';
import type { Db } from '../db/types';
import { AppError } from '../http/errors';
import { newId, TENANT_ID_PATTERN } from '../ids';
import { SIGNING_ALG, type KeyRing } from './keys';

export const SCOPES = ['ingest', 'query', 'audit', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  sub: string;
  tenantId: string | null;
  scopes: Scope[];
  jti: string;
  exp: number;
}

export interface TokenSettings {
  issuer: string;
  audience: string;
  /** An extra trusted JWKS (an external issuer). */
  jwksUrl?: string;
}

const ClaimsSchema = v.object({
  sub: v.pipe(v.string(), v.minLength(1)),
  jti: v.pipe(v.string(), v.minLength(1)),
  exp: v.number(),
  iat: v.number(),
  tenant_id: v.optional(v.nullable(v.pipe(v.string(), v.regex(TENANT_ID_PATTERN)))),
  scopes: v.array(v.picklist(SCOPES)),
});

/** Parses `1h`, `30m`, `7d`, `90s` or a number of seconds. */
export function parseTtl(ttl: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(ttl.trim());
  if (!m) throw new Error(`invalid ttl "${ttl}": use e.g. 90s, 30m, 1h, 7d`);
  const n = Number(m[1]);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

export async function issueToken(
  keys: KeyRing,
  clock: Clock,
  settings: TokenSettings,
  input: { sub: string; tenantId: string | null; scopes: Scope[]; ttlSeconds: number },
): Promise<{ token: string; jti: string; expiresAt: Date }> {
  if (input.scopes.includes('admin') && input.tenantId) throw new Error('admin tokens carry no tenant_id');
  if (!input.scopes.includes('admin') && !input.tenantId) throw new Error('a tenant token needs --tenant');
  const { kid, key } = await keys.active();
  const iat = Math.floor(clock.now().getTime() / 1000);
  const exp = iat + input.ttlSeconds;
  const jti = newId('jti');
  const claims: JWTPayload = { scopes: input.scopes, ...(input.tenantId ? { tenant_id: input.tenantId } : {}) };
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setSubject(input.sub)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key);
  return { token, jti, expiresAt: new Date(exp * 1000) };
}

/** Verifies signature, issuer, audience and expiry, then revocation. Throws AppError with DESIGN §4 codes. */
export async function verifyToken(
  db: Db,
  keys: KeyRing,
  clock: Clock,
  settings: TokenSettings,
  token: string,
): Promise<Principal> {
  const local = createLocalJWKSet(await keys.jwks());
  const remote = settings.jwksUrl ? createRemoteJWKSet(new URL(settings.jwksUrl)) : null;
  const options = {
    issuer: settings.issuer,
    audience: settings.audience,
    algorithms: [SIGNING_ALG, 'ES256'],
    currentDate: clock.now(),
  };
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, local, options));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new AppError('TOKEN_EXPIRED', 'The token has expired; request a new one.');
    if (remote && err instanceof errors.JWKSNoMatchingKey) {
      try {
        ({ payload } = await jwtVerify(token, remote, options));
      } catch (remoteErr) {
        if (remoteErr instanceof errors.JWTExpired) throw new AppError('TOKEN_EXPIRED', 'The token has expired; request a new one.');
        throw new AppError('AUTHENTICATION_REQUIRED', 'The bearer token is not valid.');
      }
    } else {
      throw new AppError('AUTHENTICATION_REQUIRED', 'The bearer token is not valid.');
    }
  }
  const claims = v.safeParse(ClaimsSchema, payload);
  if (!claims.success) throw new AppError('AUTHENTICATION_REQUIRED', 'The token is missing required claims (sub, jti, exp, iat, scopes).');
  const c = claims.output;
  const revoked = await db
    .select({ jti: revokedTokens.jti })
    .from(revokedTokens)
    .where(and(eq(revokedTokens.jti, c.jti), gt(revokedTokens.expiresAt, clock.now())))
    .limit(1);
  if (revoked.length) throw new AppError('TOKEN_REVOKED', 'This token has been revoked.');
  return { sub: c.sub, tenantId: c.tenant_id ?? null, scopes: c.scopes, jti: c.jti, exp: c.exp };
}

export async function revokeToken(db: Db, clock: Clock, input: { jti: string; tenantId: string | null; expiresAt: Date }) {
  await db
    .insert(revokedTokens)
    .values({ jti: input.jti, tenantId: input.tenantId, revokedAt: clock.now(), expiresAt: input.expiresAt })
    .onConflictDoNothing();
}
