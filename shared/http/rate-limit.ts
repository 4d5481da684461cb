import { sql } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { rateLimits } from '../db/schema/control';
import { rowsOf } from '../db/migrate';
import type { Services } from '../services';
import type { AppEnv } from './context';
import { AppError } from './errors';

const WINDOW_MS = 60_000;

/**
 * Fixed one-minute windows counted in the control database, so every instance (Node, Workers,
 * Lambda) shares one count per tenant. Returns the seconds until the window resets when over.
 */
export async function takeRateLimit(services: Services, key: string, limit: number): Promise<{ allowed: boolean; retryAfter: number; remaining: number }> {
  const now = services.clock.now().getTime();
  const windowStart = new Date(now - (now % WINDOW_MS));
  const result = await services.control.execute<{ count: number }>(sql`
    INSERT INTO ${rateLimits} (key, window_start, count) VALUES (${key}, ${windowStart.toISOString()}, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET count = ${rateLimits}.count + 1
    RETURNING count`);
  const count = Number(rowsOf<{ count: number }>(result)[0]?.count ?? 1);
  const retryAfter = Math.max(1, Math.ceil((windowStart.getTime() + WINDOW_MS - now) / 1000));
  return { allowed: count <= limit, retryAfter, remaining: Math.max(0, limit - count) };
}

/** `limit` per minute per tenant for this route group (`name`). */
export function rateLimit(name: string, limit: (c: Parameters<MiddlewareHandler<AppEnv>>[0]) => number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const tenant = c.get('tenant');
    const max = limit(c);
    const r = await takeRateLimit(c.get('services'), `${name}:${tenant.id}`, max);
    c.header('RateLimit-Limit', String(max));
    c.header('RateLimit-Remaining', String(r.remaining));
    if (!r.allowed) {
      throw new AppError('RATE_LIMIT_EXCEEDED', `At most ${max} requests per minute for ${name}; retry in ${r.retryAfter} s.`, {
        headers: { 'Retry-After': String(r.retryAfter) },
      });
    }
    await next();
  };
}
