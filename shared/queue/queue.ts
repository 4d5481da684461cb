/**
 * Step chaining port. Production: Upstash QStash publishes to the step's URL and retries
 * delivery itself. Embedded: the local relay delivers the same signed payloads over HTTP to the
 * same step routes, retrying from the outbox with the same backoff.
 */
export interface StepMessage {
  /** Step route, e.g. `parse`, `index`, `webhook`, `provision`. */
  topic: string;
  /** `{doc}:{step}:{input sha}`: a redelivery of the same work carries the same id. */
  dedupId: string;
  tenantId: string;
  payload: Record<string, unknown>;
}

/** What became of one publish attempt. */
export type PublishOutcome =
  /** Handed over (QStash accepted it) or delivered (local relay got a 2xx). */
  | { kind: 'done'; messageId: string }
  /** Try again later (QStash unreachable, step answered non-2xx). */
  | { kind: 'retry'; error: string };

export interface Queue {
  /** `attempt` counts from 1; the relay decides backoff and dead-lettering. */
  publish(message: StepMessage, attempt: number): Promise<PublishOutcome>;
  /** Local relay: the queue retries itself from the outbox. QStash: it retries delivery on its own side. */
  readonly retriesDelivery: boolean;
}

/** Verifies `Upstash-Signature` against the raw body (current and next signing keys). */
export interface SignatureVerifier {
  verify(input: { signature: string; body: string; url: string }): Promise<boolean>;
}

/** URL of a step route: `{base}/steps/{topic}`. */
export const stepUrl = (baseUrl: string, topic: string) => `${baseUrl.replace(/\/$/, '')}/steps/${topic}`;
