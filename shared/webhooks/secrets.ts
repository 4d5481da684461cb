import { Webhook } from 'standardwebhooks';

/** Secret length: 32 random bytes (Standard Webhooks asks for 24–64). */
const SECRET_BYTES = 32;
const SECRET_PREFIX = 'whsec_';

/** A new signing secret in the Standard Webhooks format: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SECRET_BYTES));
  return `${SECRET_PREFIX}${btoa(String.fromCharCode(...bytes))}`;
}

/**
 * The `webhook-signature` header: one `v1,<base64 HMAC-SHA256>` per secret, space-separated, so a
 * receiver still holding the previous secret verifies during a rotation's grace period.
 */
export function signWebhook(secrets: string[], messageId: string, timestamp: Date, body: string): string {
  return secrets.map((s) => new Webhook(s).sign(messageId, timestamp, body)).join(' ');
}
