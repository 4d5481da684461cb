import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { buildApi } from '../functions/api';
import { openApiFor } from '../functions/api/docs';
import { manifestExample, ROUTE_DOCS } from '../functions/api/route-docs';
import { jsonSchemaOf, toOpenApiPath, type NamedSchema } from '../shared/http/openapi';
import { ManifestSchema } from '../shared/intake/manifest';
import { ProblemSchema } from '../shared/vendor/api-schemas';

/**
 * /openapi.json is generated from the route registry and the valibot schemas the routes validate
 * with. These tests keep it honest: every route the app mounts is documented (and nothing else),
 * the document is valid OpenAPI 3.1, and every example passes both the valibot schema and the
 * JSON Schema generated from it.
 */

type Json = Record<string, unknown>;
type Operation = { operationId: string; requestBody?: { content: Record<string, { schema?: Json; examples?: Record<string, { value: unknown }> }> }; responses: Record<string, { content?: Record<string, { schema?: Json; example?: unknown; examples?: Record<string, { value: unknown }> }> }> };

const doc = openApiFor('http://127.0.0.1:8080') as { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json> } };

/** The routes the real app mounts (the services are never touched: nothing is requested). */
function mountedRoutes(): Set<string> {
  const app = buildApi(() => {
    throw new Error('no services needed to list routes');
  });
  return new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`));
}

function documentedRoutes(): Set<string> {
  return new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
}

/** Ajv (JSON Schema 2020-12) with the document's components, so `$ref`s resolve. */
function jsonSchemaValidator() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: 'frostbyte:components', components: doc.components }, 'frostbyte:components');
  return (schema: Json, value: unknown) => {
    const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"frostbyte:components#/components/')) as Json;
    const validate = ajv.compile(rebased);
    return validate(value) ? null : ajv.errorsText(validate.errors);
  };
}

describe('OpenAPI document', () => {
  it('documents every route the app mounts, and only those', () => {
    const mounted = mountedRoutes();
    const documented = documentedRoutes();
    expect([...mounted].filter((r) => !documented.has(r)), 'mounted but missing from functions/api/route-docs.ts').toEqual([]);
    expect([...documented].filter((r) => !mounted.has(r)), 'documented but not mounted').toEqual([]);
    expect(documented.has('post /api/v1/ingest/{tenant_id}/batch')).toBe(true);
  });

  it('is valid OpenAPI 3.1', async () => {
    const result = await new Validator().validate(JSON.parse(JSON.stringify(doc)));
    expect(result.errors ?? null, JSON.stringify(result.errors, null, 2)).toBeNull();
    expect(result.valid).toBe(true);
  });

  it('gives every operation a unique operationId', () => {
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('validates every request example with the valibot schema the route validates with', () => {
    let checked = 0;
    for (const route of ROUTE_DOCS) {
      if (!route.request) continue;
      const schema = 'schema' in route.request.schema && 'name' in route.request.schema ? (route.request.schema as NamedSchema).schema : route.request.schema;
      for (const [name, ex] of Object.entries(route.request.examples)) {
        const parsed = v.safeParse(schema as v.GenericSchema, ex.value);
        expect(parsed.success, `${route.method} ${route.path} example ${name}: ${parsed.issues?.map((i) => `${v.getDotPath(i)}: ${i.message}`).join('; ')}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it('validates every response example that has a schema, with valibot and with the generated JSON Schema', () => {
    const check = jsonSchemaValidator();
    let checked = 0;
    for (const route of ROUTE_DOCS) {
      for (const [status, r] of Object.entries(route.responses)) {
        if (!r.schema || r.example === undefined) continue;
        const schema = 'name' in r.schema && 'schema' in r.schema ? (r.schema as NamedSchema).schema : (r.schema as v.GenericSchema);
        const parsed = v.safeParse(schema, r.example);
        expect(parsed.success, `${route.method} ${route.path} ${status}: ${parsed.issues?.map((i) => `${v.getDotPath(i)}: ${i.message}`).join('; ')}`).toBe(true);
        const op = doc.paths[toOpenApiPath(route.path)][route.method];
        const media = Object.values(op.responses[status].content ?? {})[0];
        expect(check(media?.schema ?? {}, r.example), `${route.method} ${route.path} ${status} against its JSON Schema`).toBeNull();
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('validates request examples and every problem example against the JSON Schemas in the document', () => {
    const check = jsonSchemaValidator();
    let requests = 0;
    let problems = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
          for (const [name, ex] of Object.entries(media.examples ?? {})) {
            expect(check(media.schema ?? {}, ex.value), `${method} ${path} ${type} example ${name}`).toBeNull();
            requests++;
          }
        }
        for (const [status, r] of Object.entries(op.responses)) {
          const media = r.content?.['application/problem+json'];
          for (const [code, ex] of Object.entries(media?.examples ?? {})) {
            expect(v.safeParse(ProblemSchema, ex.value).success, `${method} ${path} ${status} ${code}`).toBe(true);
            expect(check(media?.schema ?? {}, ex.value)).toBeNull();
            expect((ex.value as { code: string; status: number })).toMatchObject({ code, status: Number(status) });
            problems++;
          }
        }
      }
    }
    expect(requests).toBeGreaterThanOrEqual(8);
    expect(problems).toBeGreaterThan(100);
  });

  it('describes the manifest with the intake schema itself: what intake refuses, the JSON Schema refuses too', () => {
    const check = jsonSchemaValidator();
    const manifest = doc.components.schemas.Manifest;
    expect(manifest).toMatchObject({ type: 'object', required: expect.arrayContaining(['batch_id', 'tenant_id', 'file_count', 'files']) });
    const bad = [
      { ...manifestExample, tenant_id: 'Acme Corp' },
      { ...manifestExample, files: [{ ...manifestExample.files[0], sha256: 'abc' }] },
      { ...manifestExample, files: [{ ...manifestExample.files[0], size_bytes: -1 }] },
      { ...manifestExample, file_count: 0 },
      { ...manifestExample, files: [] },
    ];
    for (const m of bad) {
      expect(v.safeParse(ManifestSchema, m).success).toBe(false);
      expect(check(manifest, m)).not.toBeNull();
    }
    expect(check(manifest, manifestExample)).toBeNull();
    expect(jsonSchemaOf(ManifestSchema)).toEqual(Object.fromEntries(Object.entries(manifest).filter(([k]) => k !== 'description')));
  });

  it('names the scopes each tenant route needs and the servers to call', () => {
    const submit = doc.paths['/api/v1/ingest/{tenant_id}/batch'].post as unknown as Json;
    expect(submit.security).toEqual([{ bearerAuth: ['ingest'] }]);
    const status = doc.paths['/api/v1/ingest/{tenant_id}/batch/{batch_id}'].get as unknown as Json;
    expect(status.security).toEqual([{ bearerAuth: ['ingest'] }, { bearerAuth: ['query'] }]);
    expect((doc as unknown as { servers: { url: string }[] }).servers[0].url).toBe('http://127.0.0.1:8080');
  });
});
