import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { newId } from '../ids';
import type { Services } from '../services';
import type { AppEnv } from './context';
import { AppError, problemBody } from './errors';

/**
 * The one app factory: request id, services on the context, and the error handler that turns
 * AppErrors into problem+json and everything else into a generic 500 (logged, never echoed).
 */
export function createApp(services: Services | (() => Services)) {
  const get = typeof services === 'function' ? services : () => services;
  const app = new Hono<AppEnv>();
  app.use('*', async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && /^[\w.-]{1,128}$/.test(incoming) ? incoming : newId('req');
    c.set('requestId', requestId);
    c.set('services', get());
    c.header('X-Request-Id', requestId);
    await next();
  });
  app.onError((err, c) => respondWithError(c, err));
  app.notFound((c) => respondWithError(c, new AppError('NOT_FOUND', `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`)));
  return app;
}

export function respondWithError(c: import('hono').Context<AppEnv>, err: unknown) {
  const requestId = c.get('requestId') ?? newId('req');
  const appErr =
    err instanceof AppError
      ? err
      : new AppError('INTERNAL_ERROR', 'An internal error occurred. Quote the request_id when you contact support.');
  if (!(err instanceof AppError)) {
    const services = c.get('services');
    services?.log.log('error', 'unhandled error', {
      request_id: requestId,
      component: 'http',
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      stack: err instanceof Error ? err.stack : undefined,
    });
  }
  for (const [k, v] of Object.entries(appErr.extra.headers ?? {})) c.header(k, v);
  c.header('Content-Type', 'application/problem+json');
  return c.body(JSON.stringify(problemBody(appErr, requestId, new URL(c.req.url).pathname)), appErr.status as ContentfulStatusCode);
}
