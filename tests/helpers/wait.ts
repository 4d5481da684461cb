/** Polls `fn` until `done` says yes; fails with the last value seen. Timeouts are generous: CI shares two cores. */
export async function waitFor<T>(fn: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 120_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (done(v)) return v;
    if (Date.now() > until) throw new Error(`timed out; last value ${JSON.stringify(v).slice(0, 800)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

import type { getBatchStatus } from '../../shared/intake/batch-status';

export type BatchStatusView = Awaited<ReturnType<typeof getBatchStatus>>;

type Requester = { request(path: string, init?: RequestInit): Response | Promise<Response> };

/** Polls a batch's status until it is no longer `processing`, and returns that status. */
export async function settleBatch(app: Requester, tenantId: string, token: string, batchId: string, timeoutMs = 90_000): Promise<BatchStatusView> {
  return waitFor(
    async () => (await (await app.request(`/api/v1/ingest/${tenantId}/batch/${batchId}`, { headers: { authorization: `Bearer ${token}` } })).json()) as BatchStatusView,
    (s) => s.status !== undefined && s.status !== 'processing',
    timeoutMs,
    100,
  );
}
