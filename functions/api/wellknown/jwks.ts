import { Hono } from 'hono';
import type { AppEnv } from '../../../shared/http/context';

/** Public keys that verify Frostbyte tokens and signed audit-export manifests. */
export const jwksRoute = new Hono<AppEnv>().get('/.well-known/jwks.json', async (c) => {
  c.header('Cache-Control', 'public, max-age=300');
  return c.json(await c.get('services').keys.jwks());
});
