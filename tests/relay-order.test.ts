import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueSteps } from '../shared/queue/outbox';
import type { PublishOutcome, StepMessage } from '../shared/queue/queue';
import { relayOutbox } from '../shared/queue/relay';
import { ManualClock, startRuntime, type TestRuntime } from './helpers/runtime';

/**
 * The relay's claim order: within what is due, later steps go before a document's first step, so
 * a batch's index messages do not queue behind its remaining parses; otherwise oldest first.
 */
describe('relay claim order', () => {
  let rt: TestRuntime;
  const clock = new ManualClock(new Date('2026-01-05T10:00:00Z'));
  const published: string[] = [];

  beforeAll(async () => {
    rt = await startRuntime('pglite', {}, { clock });
    rt.services.queue = {
      retriesDelivery: true,
      async publish(message: StepMessage): Promise<PublishOutcome> {
        published.push(message.dedupId);
        return { kind: 'done', messageId: `m_${message.dedupId}` };
      },
    };
  });
  afterAll(() => rt.close());

  it('publishes due index messages before older parse messages, each kind oldest first', async () => {
    const tenantId = await rt.tenant('relay');
    const plane = await rt.services.planes.forTenant(tenantId);
    const message = (topic: string, id: string): StepMessage => ({ topic, dedupId: id, tenantId, payload: { doc_id: id } });
    await enqueueSteps(plane.db, plane.tables, clock, [message('parse', 'p1'), message('parse', 'p2')]);
    clock.advance(1000);
    await enqueueSteps(plane.db, plane.tables, clock, [message('index', 'i1'), message('parse', 'p3')]);
    clock.advance(1000);
    await enqueueSteps(plane.db, plane.tables, clock, [message('index', 'i2')]);
    // One index message not yet due (a retry backing off) waits its turn.
    await enqueueSteps(plane.db, plane.tables, clock, [message('index', 'i3')], { delayMs: 60_000 });

    for (let i = 0; i < 6; i++) await relayOutbox(rt.services, plane, { limit: 1 });
    expect(published).toEqual(['i1', 'i2', 'p1', 'p2', 'p3']);
    clock.advance(60_000);
    await relayOutbox(rt.services, plane, { limit: 1 });
    expect(published.at(-1)).toBe('i3');
  });
});
