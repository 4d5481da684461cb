import { Receiver } from '@upstash/qstash';
import { SignJWT } from 'jose';
import { sha256Base64Url } from './digest';
import type { SignatureVerifier } from './queue';

/**
 * QStash's signature format, so one verifier serves QStash and the local relay: an HS256 JWT
 * with iss `Upstash`, sub = destination URL and `body` = base64url(sha256(body)), valid 5 min.
 */
export async function signLikeQstash(signingKey: string, url: string, body: string, now: Date): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({ body: await sha256Base64Url(body) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('Upstash')
    .setSubject(url)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + 300)
    .setJti(`jwt_${crypto.randomUUID()}`)
    .sign(new TextEncoder().encode(signingKey));
}

/** `@upstash/qstash` Receiver with the current and next keys (rotation without downtime). */
export function qstashVerifier(keys: { current: string; next: string }): SignatureVerifier {
  const receiver = new Receiver({ currentSigningKey: keys.current, nextSigningKey: keys.next, devMode: false });
  return {
    async verify({ signature, body, url }) {
      try {
        return await receiver.verify({ signature, body, url, clockTolerance: 5 });
      } catch {
        return false;
      }
    },
  };
}
