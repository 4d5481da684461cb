import { handle, type LambdaContext, type LambdaEvent } from 'hono/aws-lambda';
import { Hono } from 'hono';
import { systemClock, type Clock } from '../../shared/clock';
import { ConfigError } from '../../shared/config/env';
import { loadServerlessSettings, type ServerlessSettings } from '../../shared/config/serverless';
import { configProblemResponse, unavailableResponse } from '../../shared/http/config-problem';
import { newId } from '../../shared/ids';
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
 * - `api`: every HTTP route and the short steps (sst.config.ts gives each route group and each
 *   step its own function with this handler, behind API Gateway).
 * - `longStep`: steps that may run longer than API Gateway's 30 s (audit export), at a function URL.
 * - `parse`: the parse step runtime, with the worker-thread parser pool (OCR included), at a
 *   function URL; QStash sends `parse` messages here from Workers or Lambda (STEP_BASE_URLS).
 * - `scheduled`: EventBridge schedules (`{ job }` from shared/queue/scheduled-jobs.ts).
 */

export interface LambdaHandlerOptions {
  /** Start the parser pool in this container (the parse function only). */
  parser?: boolean;
  /**
   * This function is reached at its own function URL (long-running steps: parse, audit export)
   * rather than through the API: QStash signatures are checked against that URL.
   */
  ownFunctionUrl?: boolean;
  log?: Logger;
  clock?: Clock;
}

type HttpHandler = (event: LambdaEvent, context?: LambdaContext) => ReturnType<ReturnType<typeof handle>>;

/**
 * Connections per pool, kept by a container between requests (it serves one at a time).
 * PostgreSQL's max_connections must cover concurrent containers × (4 + 2 per tenant they touch).
 */
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

  let wiringError: unknown = null;
  const unavailable: HttpHandler = handle(
    new Hono().all('*', (c) => {
      const requestId = newId('req');
      const error = wiringError instanceof Error ? `${wiringError.name}: ${wiringError.message}` : String(wiringError);
      log.log('error', 'could not wire services', { component: 'lambda', request_id: requestId, error });
      return unavailableResponse(c.req.raw, requestId);
    }),
  );

  let wiring: Promise<ServerlessRuntime> | null = null;
  let parser: (DocumentParser & { close(): Promise<void> }) | undefined;
  const runtime = (event?: LambdaEvent): Promise<ServerlessRuntime> => {
    const s = settings;
    if (!s) return Promise.reject(configError);
    wiring ??= (async () => {
      const publicUrl = s.env.PUBLIC_URL;
      if (!publicUrl) throw new Error('PUBLIC_URL was checked by loadServerlessSettings');
      // A function reached at its own function URL cannot have that URL in its environment (it
      // does not exist until the function does). A function URL's domain is assigned by AWS and
      // routes only to this function, so it is a sound base for verifying QStash signatures.
      const domain = event && 'requestContext' in event && event.requestContext && 'domainName' in event.requestContext ? event.requestContext.domainName : undefined;
      const ownStepsBaseUrl = opts.ownFunctionUrl && domain ? `https://${domain}` : publicUrl;
      if (opts.parser && !parser) {
        // The worker file is found relative to this module, bundled or not: sst.config.ts copies
        // shared/ next to the bundle (functions/lambda/index.mjs → ../../shared/node/parse-worker.mjs).
        const pool = createParsePool({ workerFile: new URL('../../shared/node/parse-worker.mjs', import.meta.url) });
        parser = { version: PARSER_VERSION, parse: (bytes, meta) => pool.parse(bytes, meta), parseCanonical: (bytes, meta) => pool.parseCanonical(bytes, meta), close: () => pool.close() };
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
    let rt: ServerlessRuntime;
    try {
      rt = await runtime(event);
    } catch (e) {
      wiringError = e;
      return unavailable(event, context);
    }
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
const KINDS = {
  api: {},
  longStep: { ownFunctionUrl: true },
  parse: { parser: true, ownFunctionUrl: true },
} satisfies Record<string, LambdaHandlerOptions>;
const containers = new Map<keyof typeof KINDS, Handlers>();
/** One set of handlers per kind of function, built from process.env on first use. */
const container = (kind: keyof typeof KINDS): Handlers => {
  let h = containers.get(kind);
  if (!h) containers.set(kind, (h = createLambdaHandlers(process.env, KINDS[kind])));
  return h;
};

/** HTTP API (every route group) and the short step deliveries (index, webhook, provision), through API Gateway. */
export const api: HttpHandler = (event, context) => container('api').http(event, context);
/** Steps that may outlast API Gateway's 30 s (audit export), at their own function URL. */
export const longStep: HttpHandler = (event, context) => container('longStep').http(event, context);
/** The parse step with the worker-thread parser and OCR, at its own function URL (QStash sends `parse` here). */
export const parse: HttpHandler = (event, context) => container('parse').http(event, context);
/** Scheduled jobs (outbox sweep, audit-export schedules): EventBridge passes `{ job }`. */
export const scheduled = (event: { job?: string }) => container('api').scheduled(event);
