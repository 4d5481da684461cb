import { Hono } from 'hono';
import * as v from 'valibot';
import type { AppEnv } from '../http/context';
import { AppError } from '../http/errors';
import type { Services } from '../services';
import { stepUrl } from '../queue/queue';
import { RetryableStepError, type StepContext, type StepResult } from '../queue/step';

/**
 * A step of control-plane work (the control outbox): provisioning runs before a tenant has a
 * data plane and while it is not ACTIVE, so it cannot go through `stepRoutes`, which hands each
 * step the tenant's data plane and holds a non-ACTIVE tenant's work back.
 */
export interface ControlStepDefinition<T> {
  topic: string;
  schema: v.GenericSchema<unknown, T>;
  /** Throw RetryableStepError (or anything) to be delivered again; return `failed` after recording a permanent failure. */
  run(services: Services, payload: T, ctx: StepContext): Promise<StepResult>;
}

/**
 * Mounts `/steps/{topic}` for control steps with the same contract as `stepRoutes`: verify the
 * QStash signature on the raw body first, then validate, then run; non-2xx means "retry me".
 * Mount it before `stepRoutes` so these topics are answered here.
 */
export function controlStepRoutes(steps: ControlStepDefinition<never>[] | ControlStepDefinition<unknown>[]) {
  const app = new Hono<AppEnv>();
  for (const step of steps as ControlStepDefinition<unknown>[]) {
    app.post(`/steps/${step.topic}`, async (c) => {
      const services = c.get('services');
      const raw = await c.req.text();
      const signature = c.req.header('upstash-signature');
      if (!services.steps || !signature || !(await services.steps.verifier.verify({ signature, body: raw, url: stepUrl(services.steps.baseUrl, step.topic) }))) {
        throw new AppError('AUTHENTICATION_REQUIRED', 'Step messages must carry a valid Upstash-Signature.');
      }
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        services.log.log('error', 'control step message is not JSON; dropped', { component: 'steps', topic: step.topic });
        return c.json({ status: 'ignored', reason: 'body is not JSON' });
      }
      const parsed = v.safeParse(step.schema, json);
      if (!parsed.success) {
        services.log.log('error', 'control step message failed validation; dropped', { component: 'steps', topic: step.topic });
        return c.json({ status: 'ignored', reason: 'payload failed validation' });
      }
      const attempt = Number(c.req.header('upstash-retried') ?? '0') + 1;
      const messageId = c.req.header('upstash-message-id') ?? 'unknown';
      try {
        return c.json(await step.run(services, parsed.output, { attempt, messageId }));
      } catch (e) {
        const retryAfter = e instanceof RetryableStepError ? e.retryAfterSeconds : 30;
        services.log.log('warn', 'control step failed; the queue will retry', {
          component: 'steps', topic: step.topic, attempt, tenant_id: typeof (json as { tenant_id?: unknown }).tenant_id === 'string' ? (json as { tenant_id: string }).tenant_id : undefined,
          error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
        });
        c.header('Retry-After', String(retryAfter));
        return c.json({ status: 'retry', attempt }, 503);
      }
    });
  }
  return app;
}
