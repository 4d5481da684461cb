/** Event types a webhook endpoint can subscribe to (docs/webhooks.md describes each payload). */
export const WEBHOOK_EVENT_TYPES = ['batch.completed', 'batch.completed_with_errors', 'document.parse_failed', 'audit.export_ready'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The Standard Webhooks envelope: `{type, timestamp, data}`. `timestamp` is when the event happened. */
export interface WebhookMessage {
  type: WebhookEventType;
  timestamp: string;
  data: Record<string, unknown>;
}
