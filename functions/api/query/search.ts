import { Hono } from 'hono';
import { requireTenantAccess } from '../../../shared/auth/middleware';
import type { AppEnv } from '../../../shared/http/context';
import { AppError } from '../../../shared/http/errors';
import { getChunk, getDocument, runSearch } from '../../../shared/retrieval/query';

/** Retrieval with citations (scope query). */
export const queryRoutes = new Hono<AppEnv>()
  .post('/query/:tenant_id/search', requireTenantAccess('query'), async (c) => {
    const services = c.get('services');
    const plane = await services.planes.forTenant(c.get('tenant').id);
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new AppError('VALIDATION_FAILED', 'Send a JSON body: {"query_text": "...", "top_k": 5}.');
    }
    const result = await runSearch(services, plane, c.get('principal').sub, body);
    if (!result.model_version_match) {
      c.header('Warning', `299 frostbyte "some results were indexed with another embedder than ${result.embed_model}@${result.embed_version}; re-index for consistent scores"`);
    }
    return c.json(result);
  })
  .get('/query/:tenant_id/document/:doc_id', requireTenantAccess('query'), async (c) => {
    const plane = await c.get('services').planes.forTenant(c.get('tenant').id);
    return c.json(await getDocument(plane, c.req.param('doc_id')));
  })
  .get('/query/:tenant_id/chunk/:chunk_id', requireTenantAccess('query'), async (c) => {
    const plane = await c.get('services').planes.forTenant(c.get('tenant').id);
    return c.json(await getChunk(plane, c.req.param('chunk_id')));
  });
