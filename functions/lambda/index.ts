import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { Hono } from 'hono';
import { systemClock, type Clock } from '../../shared/clock';
import { ConfigError } from '../../shared/config/env';
import { loadServerlessSettings, type ServerlessSettings } from '../../shared/config/serverless';
import { configProblemResponse } from '../../shared/http/config-problem';
import { jsonLogger, type Logger } from '../../shared/log';
import { createClamdScanner } from '../../shared/node/clamd';
import { createParsePool } from '../../shared/node/parse-pool';
import { nodeResolveHost } from '../../shared/node/resolve-host';
import { nodeWebhookSender } from '../../shared/node/webhook-sender';
import { PARSER_VERSION } from '../../shared/parse/parse-document';
import type { DocumentParser } from '../../shared/pipeline/ports';
import { jobNamed } from '../../shared/queue/scheduled-jobs';
import type { Services } from '../../shared/services';
import { buildServerlessApp } from '../worker/app';
import { wireServerless, type ServerlessRuntime } from '../worker/wire';

/**
 * AWS Lambda entries (sst.config.ts). One container serves one request at a time and lives for
 * many, so unlike a Worker it wires Services once (on the first invocation) and keeps its
 * connection pools. What a request wrote to the outbox is relayed to QStash before the handler
 * returns: a frozen container runs nothing after the response.
 *
 * - `api`: every HTTP route (sst.config.ts gives each route group its own function with this handler).
 * - `steps`: the same app for QStash step deliveries that need no parser (index, webhook, provision).
 * - `parse`: the parse step runtime, with the worker-thread parser pool (OCR included); the one
 *   QStash sends `parse` messages to from Workers or Lambda (STEP_BASE_URLS).
 * - `scheduled`: EventBridge schedules (`{ job }` from shared/queue/scheduled-jobs.ts).
 */

export interface LambdaHandlerOptions {
  /** Start the parser pool in this container (the parse function only). */
  parser?: boolean;
  log?: Logger;
  clock?: Clock;
}

type HttpHandler = (event: LambdaEvent, context?: LambdaContext) => ReturnType<ReturnType<typeof handle>>;

/** Connections per pool. Lambda serves one request at a time per container; RDS-style limits apply per container. */
const POOL_SIZE = { control: 4, tenant: 2 };

/** Builds the handlers of one container from its settings (process.env in production, a test's env in tests). */
export function createLambdaHandlers(source: Record<string, string | undefined>, opts: LambdaHandlerOptions = {}) {
  let settings: ServerlessSettings | null = null;
  let configError: ConfigError | null = null;
  try {
    settings = loadServerlessSettings(source, 'lambda');
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    configError = e;
  }
  const log = opts.log ?? jsonLogger((line) => process.stdout.write(`${line}\n`), settings?.env.LOG_LEVEL ?? 'info');

  let services: Services | null = null;
  const servicesOfContainer = (): Services => {
    if (!services) throw new Error('Lambda services are wired before the app runs');
    return services;
  };
  const http: HttpHandler = settings
    ? handle(buildServerlessApp(servicesOfContainer, { maxBytes: settings.maxRequestBytes, largeUploadUrl: settings.largeUploadUrl }))
    : handle(new Hono().all('*', (c) => configProblemResponse(configError as ConfigError, 'AWS Lambda', c.req.raw)));

  let wiring: Promise<ServerlessRuntime> | null = null;
  let parser: (DocumentParser & { close(): Promise<void> }) | undefined;
  const runtime = (event?: LambdaEvent): Promise<ServerlessRuntime> => {
    const s = settings;
    if (!s) return Promise.reject(configError);
    wiring ??= (async () => {
      const publicUrl = s.env.PUBLIC_URL;
      if (!publicUrl) throw new Error('PUBLIC_URL was checked by loadServerlessSettings');
      // The parse function is reached at its own function URL, which cannot be written into its
      // environment (it does not exist until the function does). A function URL's domain is
      // assigned by AWS and routes only to this function, so it is a sound base for verifying
      // the QStash signatures of the messages it receives.
      const domain = event && 'requestContext' in event && event.requestContext && 'domainName' in event.requestContext ? event.requestContext.domainName : undefined;
      const ownStepsBaseUrl = opts.parser && domain ? `https://${domain}` : publicUrl;
      if (opts.parser) {
        const pool = createParsePool();
        parser = { version: PARSER_VERSION, parse: (bytes, meta) => pool.parse(bytes, meta), close: () => pool.close() };
      }
      const rt = await wireServerless(s, {
        log, clock: opts.clock ?? systemClock, ownStepsBaseUrl, poolSize: POOL_SIZE, endConnections: true, parser,
        scanner: s.env.CLAMD_HOST ? createClamdScanner({ host: s.env.CLAMD_HOST, port: s.env.CLAMD_PORT, timeoutMs: 60_000 }) : null,
        webhooks: { sender: nodeWebhookSender(), resolveHost: nodeResolveHost },
      });
      services = rt.services;
      return rt;
    })();
    wiring.catch(() => {
      wiring = null;
    });
    return wiring;
  };

  const httpHandler: HttpHandler = async (event, context) => {
    if (!settings) return http(event, context);
    const rt = await runtime(event);
    const result = await http(event, context);
    await rt.relay.drain();
    return result;
  };

  return {
    /** API Gateway v2 / function URL events for the HTTP API and the step endpoints. */
    http: httpHandler,
    /** EventBridge schedule: `{ "job": "outbox-sweep" }`. */
    async scheduled(event: { job?: string }): Promise<{ job: string; done: boolean }> {
      const job = jobNamed(event.job ?? '');
      if (!job) throw new Error(`unknown scheduled job ${JSON.stringify(event.job)}; see shared/queue/scheduled-jobs.ts`);
      const rt = await runtime();
      await job.run(rt.services);
      await rt.relay.drain();
      return { job: job.name, done: true };
    },
    /** Ends connections and the parser pool (tests; Lambda itself just freezes the container). */
    async close() {
      const rt = await wiring?.catch(() => null);
      await rt?.close();
      await parser?.close();
      wiring = null;
    },
  };
}

type Handlers = ReturnType<typeof createLambdaHandlers>;
const containers = new Map<string, Handlers>();
/** One set of handlers per kind of function, built from process.env on first use. */
const container = (kind: 'api' | 'parse'): Handlers => {
  let h = containers.get(kind);
  if (!h) containers.set(kind, (h = createLambdaHandlers(process.env, { parser: kind === 'parse' })));
  return h;
};

/** HTTP API (every route group) and step deliveries that need no parser. */
export const api: HttpHandler = (event, context) => container('api').http(event, context);
/** The parse step (function URL; QStash delivers `parse` messages here). */
export const parse: HttpHandler = (event, context) => container('parse').http(event, context);
/** Scheduled jobs (outbox sweep, audit-export schedules). */
export const scheduled = (event: { job?: string }) => container('api').scheduled(event);
