import { Hono } from 'hono';
import type { AppEnv } from '../../shared/http/context';
import { buildOpenApiDocument } from '../../shared/http/openapi';
import { DOCS_SCRIPT, DOCS_STYLE, docsHtml } from './docs-page';
import { API_INFO, ROUTE_DOCS, SHARED_SCHEMAS } from './route-docs';

/** The document without `servers` (those follow the request); built once, on first use. */
let cached: Record<string, unknown> | null = null;
function openApiDocument(): Record<string, unknown> {
  cached ??= buildOpenApiDocument({ ...API_INFO, servers: [] }, ROUTE_DOCS, SHARED_SCHEMAS);
  return cached;
}

/** The API as seen from where it was asked: the request's origin (or PUBLIC_URL), plus the tenant-host form. */
export function openApiFor(origin: string): Record<string, unknown> {
  return {
    ...openApiDocument(),
    servers: [
      { url: origin, description: 'This server' },
      {
        url: 'https://{tenant_id}.pipeline.frostbyte.io',
        description: 'Your tenant endpoint (host and path name the same tenant)',
        variables: { tenant_id: { default: 'acme-corp', description: 'Your tenant id' } },
      },
    ],
  };
}

/** CSP source for an inline block: `'sha256-<base64>'` (WebCrypto, so it runs on every runtime). */
async function cspHash(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return `'sha256-${btoa(String.fromCharCode(...digest))}'`;
}

let policy: Promise<string> | null = null;
/** Only this page's own inline style and script run; requests go to this origin only. */
function contentSecurityPolicy(): Promise<string> {
  policy ??= Promise.all([cspHash(DOCS_SCRIPT), cspHash(DOCS_STYLE)]).then(
    ([script, style]) =>
      `default-src 'none'; script-src ${script}; style-src ${style}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  );
  return policy;
}

/** GET /openapi.json and GET /docs (public). */
export const docsRoutes = new Hono<AppEnv>()
  .get('/openapi.json', (c) => {
    const origin = c.get('services').env.PUBLIC_URL ?? new URL(c.req.url).origin;
    c.header('Cache-Control', 'public, max-age=300');
    c.header('Access-Control-Allow-Origin', '*');
    return c.json(openApiFor(origin.replace(/\/+$/, '')));
  })
  .get('/docs', async (c) => {
    c.header('Content-Security-Policy', await contentSecurityPolicy());
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    return c.html(docsHtml('/openapi.json'));
  });
