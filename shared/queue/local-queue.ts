import { signLikeQstash } from './signing';
import type { PublishOutcome, Queue, StepMessage } from './queue';
import { stepUrl } from './queue';
import type { Clock } from '../clock';

/**
 * The embedded relay's delivery: the same JSON body and `Upstash-Signature` QStash would send,
 * POSTed to the same step route. `fetchImpl` is real HTTP by default; `npm start` and tests hand
 * in `app.request`, which runs the same route in process. A non-2xx answer means "retry me" (the relay backs off from the outbox).
 */
export function localQueue(opts: { stepsBaseUrl: string; signingKey: string; clock: Clock; fetchImpl?: (url: string, init: RequestInit) => Promise<Response>; timeoutMs?: number }): Queue {
  const doFetch = opts.fetchImpl ?? ((url: string, init: RequestInit) => fetch(url, init));
  return {
    retriesDelivery: true,
    async publish(message: StepMessage, attempt: number): Promise<PublishOutcome> {
      const url = stepUrl(opts.stepsBaseUrl, message.topic);
      const body = JSON.stringify(message.payload);
      const messageId = `msg_local_${message.dedupId}`;
      const signature = await signLikeQstash(opts.signingKey, url, body, opts.clock.now());
      const signal = AbortSignal.timeout(opts.timeoutMs ?? 15 * 60_000);
      // An in-process fetch does not watch the signal; the race gives up on it all the same.
      const timedOut = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      timedOut.catch(() => {});
      try {
        const res = await Promise.race([timedOut, doFetch(url, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'upstash-signature': signature,
            'upstash-message-id': messageId,
            'upstash-retried': String(attempt - 1),
            'frostbyte-tenant': message.tenantId,
            'frostbyte-dedup-id': message.dedupId,
          },
          signal,
        })]);
        const text = await res.text().catch(() => '');
        if (res.ok) return { kind: 'done', messageId };
        return { kind: 'retry', error: `step ${message.topic} answered ${res.status}: ${text.slice(0, 300)}` };
      } catch (e) {
        return { kind: 'retry', error: `step ${message.topic} unreachable: ${e instanceof Error ? e.message : String(e)}` };
      }
    },
  };
}
