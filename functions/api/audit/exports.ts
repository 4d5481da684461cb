import { Hono } from 'hono';
import * as v from 'valibot';
import { EXPORT_FORMATS } from '../../../shared/audit/manifest';
import { getExport, listExports, openExportFile, readExportManifest, requestExport } from '../../../shared/audit/service';
import type { AppEnv } from '../../../shared/http/context';
import { optionalText, parseJsonBody, parseQuery, wholeNumber } from './validate';

export const ExportBody = v.strictObject({
  from: v.optional(v.string()),
  to: v.optional(v.string()),
  resource_id: v.optional(v.string()),
  format: v.optional(v.picklist(EXPORT_FORMATS, `must be one of ${EXPORT_FORMATS.join(', ')}`)),
});

const ListQuery = v.object({ cursor: optionalText, status: optionalText, limit: v.optional(wholeNumber) });

/** `sha-256=:<base64>:` (RFC 9530 Repr-Digest) from a hex digest. */
function reprDigest(hex: string): string {
  const bytes = hex.match(/../g)?.map((h) => parseInt(h, 16)) ?? [];
  return `sha-256=:${btoa(String.fromCharCode(...bytes))}:`;
}

/** Audit exports (scope audit): request, status, file and signed manifest. */
export const auditExportRoutes = new Hono<AppEnv>()
  .post('/audit/:tenant_id/exports', async (c) => {
    const input = await parseJsonBody(c, ExportBody);
    const view = await requestExport(c.get('services'), c.get('tenant').id, input, c.get('principal').sub);
    c.header('Location', view.links.self);
    return c.json(view, 202);
  })
  .get('/audit/:tenant_id/exports', async (c) => c.json(await listExports(c.get('services'), c.get('tenant').id, parseQuery(c, ListQuery))))
  .get('/audit/:tenant_id/exports/:export_id', async (c) => c.json(await getExport(c.get('services'), c.get('tenant').id, c.req.param('export_id'))))
  .get('/audit/:tenant_id/exports/:export_id/file', async (c) => {
    const file = await openExportFile(c.get('services'), c.get('tenant').id, c.req.param('export_id'));
    const headers: Record<string, string> = {
      'Content-Type': file.contentType,
      'Content-Disposition': `attachment; filename="${file.filename}"`,
      'Repr-Digest': reprDigest(file.sha256),
      'Cache-Control': 'private, no-store',
    };
    if (file.size !== null) headers['Content-Length'] = String(file.size);
    return c.body(file.body, 200, headers);
  })
  .get('/audit/:tenant_id/exports/:export_id/manifest', async (c) => {
    const manifest = await readExportManifest(c.get('services'), c.get('tenant').id, c.req.param('export_id'));
    return c.body(new TextDecoder().decode(manifest.bytes), 200, {
      'Content-Type': 'application/json',
      'Content-Disposition': `attachment; filename="${manifest.filename}"`,
      'Cache-Control': 'private, no-store',
    });
  });
