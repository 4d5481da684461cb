import type { Queue } from './queue';

/**
 * Sends each step topic to the runtime that serves it: QStash publishes `parse` to the Node or
 * Lambda step runtime and everything else to this deployment (STEP_BASE_URLS). `queues` holds
 * one queue per topic that leaves; the fallback takes the rest. All must agree on whether they
 * retry delivery themselves (they are all QStash in practice).
 */
export function routeStepsByTopic(fallback: Queue, queues: Record<string, Queue>): Queue {
  for (const [topic, q] of Object.entries(queues)) {
    if (q.retriesDelivery !== fallback.retriesDelivery) throw new Error(`step queue for ${topic} retries differently from the default queue`);
  }
  return {
    retriesDelivery: fallback.retriesDelivery,
    publish: (message, attempt) => (queues[message.topic] ?? fallback).publish(message, attempt),
  };
}
