import { AsyncLocalStorage } from 'node:async_hooks';
import type { ExecutionContext } from 'hono';
import { ConfigError } from '../../shared/config/env';
import { loadServerlessSettings, stringSettings, type ServerlessSettings } from '../../shared/config/serverless';
import { configProblemResponse, unavailableResponse } from '../../shared/http/config-problem';
import { newId } from '../../shared/ids';
import { jsonLogger, type Logger } from '../../shared/log';
import { jobsForCron } from '../../shared/queue/scheduled-jobs';
import type { Services } from '../../shared/services';
import { buildServerlessApp } from './app';
import { wireServerless } from './wire';

/**
 * Cloudflare Workers entry (wrangler.toml): the whole API, the step endpoints and the cron
 * triggers. Settings are the Worker's vars and secrets, named as in shared/config/env.ts.
 *
 * Services are wired per invocation: Workers forbid using one request's sockets from another
 * request, so database connections cannot be pooled across requests (with the HYPERDRIVE binding
 * Cloudflare pools them at the edge instead). The runtime closes an invocation's sockets when it
 * ends, including the `waitUntil` work that relays what the request wrote.
 */

/** The bindings this Worker reads: string vars/secrets, and optionally a Hyperdrive config for the control plane. */
export interface WorkerEnv {
  readonly [key: string]: unknown;
  HYPERDRIVE?: { connectionString: string };
}
/** Cloudflare's ExecutionContext as Hono types it. */
export type WorkerContext = ExecutionContext;
/** The part of Cloudflare's ScheduledController used here. */
export interface WorkerScheduledController {
  readonly cron: string;
  readonly scheduledTime: number;
}

/** Connections per invocation: the control plane and each tenant database it touches. */
const POOL_SIZE = { control: 2, tenant: 2 };

const current = new AsyncLocalStorage<Services>();
const servicesOfRequest = (): Services => {
  const s = current.getStore();
  if (!s) throw new Error('no Services for this request (called outside the Worker fetch handler)');
  return s;
};

interface Prepared {
  settings: ServerlessSettings;
  log: Logger;
  app: ReturnType<typeof buildServerlessApp>;
}
/** Settings and the app are the same for every request an isolate serves with one `env`. */
const prepared = new WeakMap<object, Prepared>();

function prepare(env: WorkerEnv): Prepared {
  let p = prepared.get(env);
  if (!p) {
    const settings = loadServerlessSettings(stringSettings(env), 'workers');
    const log = jsonLogger((line) => console.log(line), settings.env.LOG_LEVEL);
    const app = buildServerlessApp(servicesOfRequest, { maxBytes: settings.maxRequestBytes, largeUploadUrl: settings.largeUploadUrl });
    p = { settings, log, app };
    prepared.set(env, p);
  }
  return p;
}

async function wire(p: Prepared, env: WorkerEnv) {
  const publicUrl = p.settings.env.PUBLIC_URL;
  if (!publicUrl) throw new Error('PUBLIC_URL was checked by loadServerlessSettings');
  return wireServerless(p.settings, {
    log: p.log, ownStepsBaseUrl: publicUrl, poolSize: POOL_SIZE, endConnections: false,
    ...(env.HYPERDRIVE ? { controlConnectionString: env.HYPERDRIVE.connectionString } : {}),
  });
}

/** 503 problem+json when a backing service (database, S3) cannot be reached at wiring time. */
function unavailable(request: Request, log: Logger, err: unknown): Response {
  const requestId = newId('req');
  log.log('error', 'could not wire services', { component: 'worker', request_id: requestId, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  return unavailableResponse(request, requestId);
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: WorkerContext): Promise<Response> {
    let p: Prepared;
    try {
      p = prepare(env);
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(JSON.stringify({ level: 'error', component: 'worker', message: e.message }));
        return configProblemResponse(e, 'Cloudflare Workers', request);
      }
      throw e;
    }
    let rt: Awaited<ReturnType<typeof wire>>;
    try {
      rt = await wire(p, env);
    } catch (e) {
      return unavailable(request, p.log, e);
    }
    const response = await current.run(rt.services, () => p.app.fetch(request, env, ctx));
    // Hand what the request wrote to QStash now rather than at the next cron sweep.
    ctx.waitUntil(rt.relay.drain().finally(() => rt.close()));
    return response;
  },

  async scheduled(controller: WorkerScheduledController, env: WorkerEnv, ctx: WorkerContext): Promise<void> {
    const p = prepare(env);
    const jobs = jobsForCron(controller.cron);
    if (!jobs.length) {
      p.log.log('warn', 'cron trigger with no job; check [triggers] in wrangler.toml', { component: 'scheduler', cron: controller.cron });
      return;
    }
    const rt = await wire(p, env);
    try {
      for (const job of jobs) {
        const started = Date.now();
        await job.run(rt.services);
        p.log.log('info', 'scheduled job done', { component: 'scheduler', job: job.name, duration_ms: Date.now() - started });
      }
      // Work a job queued (an audit export started by a schedule) goes to QStash now.
      await rt.relay.drain();
    } finally {
      ctx.waitUntil(rt.close());
    }
  },
};
