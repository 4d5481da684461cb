import { Client } from '@upstash/qstash';
import type { PublishOutcome, Queue, StepMessage } from './queue';
import { stepUrl } from './queue';

/**
 * Production chaining through Upstash QStash: `publishJSON` to the step's URL with the
 * message's dedup id, QStash's own retries, and a failure callback that dead-letters.
 */
export function qstashQueue(opts: { baseUrl?: string; token: string; stepsBaseUrl: string; retries?: number }): Queue {
  const client = new Client({ token: opts.token, ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}) });
  return {
    retriesDelivery: false,
    async publish(message: StepMessage): Promise<PublishOutcome> {
      try {
        const res = await client.publishJSON({
          url: stepUrl(opts.stepsBaseUrl, message.topic),
          body: message.payload,
          deduplicationId: message.dedupId.replace(/[^A-Za-z0-9_.:-]/g, '_'),
          retries: opts.retries ?? 5,
          failureCallback: stepUrl(opts.stepsBaseUrl, 'failed'),
          headers: { 'Frostbyte-Tenant': message.tenantId, 'Frostbyte-Dedup-Id': message.dedupId },
        });
        return { kind: 'done', messageId: 'messageId' in res ? String(res.messageId) : message.dedupId };
      } catch (e) {
        return { kind: 'retry', error: `QStash publish failed: ${e instanceof Error ? e.message : String(e)}` };
      }
    },
  };
}
