import { toJsonSchema, type ConversionConfig, type JsonSchema } from '@valibot/to-json-schema';
import type * as v from 'valibot';
import type { Scope } from '../auth/tokens';
import { AppError, ERROR_CODES, problemBody, type ErrorCode } from './errors';

/**
 * OpenAPI 3.1 from the valibot schemas the routes validate with. A small registry describes each
 * route (method, path, summary, who may call it, request schema, response examples); the document
 * is built from it, so what /openapi.json says about a body is the validator itself, converted by
 * @valibot/to-json-schema. A test walks the mounted Hono routes to keep the registry complete.
 */

// Valibot's own schema type, loose enough for any schema a route validates with.
type AnySchema = v.GenericSchema<unknown, unknown>;

/** A schema that gets its own entry under components.schemas (and is referenced by name). */
export interface NamedSchema {
  name: string;
  schema: AnySchema;
}

/** Who may call a route. */
export type RouteAccess =
  | { kind: 'public' }
  /** A tenant token with one of these scopes, for the tenant in the path. */
  | { kind: 'tenant'; scopes: readonly Scope[] }
  /** A platform admin token (scope `admin`, no tenant). */
  | { kind: 'admin' }
  /** Either: the tenant's token with one of `scopes`, or a platform admin token. */
  | { kind: 'tenant-or-admin'; scopes: readonly Scope[] }
  /** Queue deliveries signed with `Upstash-Signature` (QStash or the local relay); not for people. */
  | { kind: 'step-signature' };

export interface ResponseDoc {
  description: string;
  /** Defaults to application/json. */
  contentType?: string;
  schema?: NamedSchema | AnySchema;
  example?: unknown;
  /** More than one example, by name (e.g. one per outcome). */
  examples?: Record<string, { summary: string; value: unknown }>;
  headers?: Record<string, string>;
}

export interface RequestDoc {
  contentType: 'application/json' | 'multipart/form-data';
  /** JSON body schema, or for multipart the schema of the `manifest` part. */
  schema: NamedSchema | AnySchema;
  description?: string;
  required?: boolean;
  examples: Record<string, { summary: string; value: unknown }>;
}

export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** As mounted in Hono: `/api/v1/ingest/:tenant_id/batch`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  access: RouteAccess;
  /** Descriptions (and examples) of the `:params` in the path. */
  params?: Record<string, { description: string; example: string }>;
  /** Query string schema (an object schema; each key becomes a parameter). */
  query?: AnySchema;
  request?: RequestDoc;
  responses: Record<number, ResponseDoc>;
  /** Problem codes this route answers besides the ones its access kind implies. */
  errors?: ErrorCode[];
  internal?: boolean;
}

export interface OpenApiInfo {
  title: string;
  version: string;
  description: string;
  servers: { url: string; description: string; variables?: Record<string, { default: string; description: string }> }[];
  tags: { name: string; description: string }[];
}

type JsonObject = Record<string, unknown>;

/** `/ingest/:tenant_id/batch` → `/ingest/{tenant_id}/batch`. */
export function toOpenApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const CONVERSION: ConversionConfig = {
  target: 'draft-2020-12',
  // Request bodies are described as they are sent, i.e. before valibot's transformations.
  typeMode: 'input',
  errorMode: 'throw',
  overrideAction: ({ valibotAction, jsonSchema }) => {
    const action = valibotAction as { type: string; message?: unknown };
    // Normalisations that change nothing a sender must know beyond the description.
    if (action.type === 'to_lower_case') return { ...jsonSchema, description: joinText(jsonSchema.description, 'Accepted in either case (stored lower-case).') };
    if (action.type === 'trim') return jsonSchema;
    // Custom checks have no JSON Schema keyword; their message says the rule.
    if (action.type === 'check') return { ...jsonSchema, description: joinText(jsonSchema.description, typeof action.message === 'string' ? `Must satisfy: ${action.message}.` : undefined) };
    return undefined;
  },
};

const joinText = (a: string | undefined, b: string | undefined) => [a, b].filter(Boolean).join(' ') || undefined;

/** JSON Schema of a valibot schema, without the `$schema` key (OpenAPI 3.1 sets the dialect once). */
export function jsonSchemaOf(schema: AnySchema): JsonObject {
  const { $schema: _dialect, ...rest } = toJsonSchema(schema, CONVERSION) as JsonSchema & { $schema?: string };
  return rest as JsonObject;
}

const isNamed = (s: NamedSchema | AnySchema): s is NamedSchema => typeof (s as NamedSchema).name === 'string' && 'schema' in s;

/** Example request ids in documented problem bodies (a real one is minted per request). */
const EXAMPLE_REQUEST_ID = 'req_01a21c65960875aa9f81cdf600adbf93';

/** A problem+json example exactly as the app's error handler renders it. */
export function problemExample(code: ErrorCode, detail: string, instance: string) {
  return problemBody(new AppError(code, detail), EXAMPLE_REQUEST_ID, instance);
}

const ACCESS_ERRORS: Record<RouteAccess['kind'], ErrorCode[]> = {
  public: [],
  tenant: ['AUTHENTICATION_REQUIRED', 'TOKEN_EXPIRED', 'TOKEN_REVOKED', 'INSUFFICIENT_PERMISSIONS', 'TENANT_MISMATCH', 'TENANT_SUSPENDED'],
  'tenant-or-admin': ['AUTHENTICATION_REQUIRED', 'TOKEN_EXPIRED', 'TOKEN_REVOKED', 'INSUFFICIENT_PERMISSIONS', 'TENANT_MISMATCH', 'TENANT_SUSPENDED'],
  admin: ['AUTHENTICATION_REQUIRED', 'TOKEN_EXPIRED', 'TOKEN_REVOKED', 'INSUFFICIENT_PERMISSIONS'],
  'step-signature': [],
};

/** What each problem code means for a caller, for the examples' summaries. */
const ERROR_HINTS: Partial<Record<ErrorCode, string>> = {
  AUTHENTICATION_REQUIRED: 'Send `Authorization: Bearer <token>`.',
  TOKEN_EXPIRED: 'The token has expired.',
  TOKEN_REVOKED: 'The token was revoked.',
  INSUFFICIENT_PERMISSIONS: 'The token lacks a scope this route needs.',
  TENANT_MISMATCH: 'The token, the host and the path must name the same tenant.',
  TENANT_SUSPENDED: 'The tenant is suspended.',
  NOT_FOUND: 'Nothing with this id in this tenant (another tenant\'s ids answer the same).',
  RATE_LIMIT_EXCEEDED: 'Too many requests; wait for Retry-After seconds.',
};

function accessDoc(access: RouteAccess): { security?: JsonObject[]; text: string } {
  switch (access.kind) {
    case 'public':
      return { security: [], text: 'Public: no token.' };
    case 'tenant':
      return { security: access.scopes.map((s) => ({ bearerAuth: [s] })), text: `Tenant token with scope ${access.scopes.map((s) => `\`${s}\``).join(' or ')}, for the tenant in the path.` };
    case 'tenant-or-admin':
      return {
        security: [...access.scopes.map((s) => ({ bearerAuth: [s] })), { bearerAuth: ['admin'] }],
        text: `Tenant token with scope ${access.scopes.map((s) => `\`${s}\``).join(' or ')} for the tenant in the path, or a platform \`admin\` token.`,
      };
    case 'admin':
      return { security: [{ bearerAuth: ['admin'] }], text: 'Platform admin token (scope `admin`, no tenant).' };
    case 'step-signature':
      return { security: [{ upstashSignature: [] }], text: 'Internal: queue deliveries signed with `Upstash-Signature` (QStash, or the local relay with the same scheme).' };
  }
}

function errorResponses(route: RouteDoc, path: string): Record<string, JsonObject> {
  const codes = [...new Set([...ACCESS_ERRORS[route.access.kind], ...(route.errors ?? [])])];
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_CODES[code][0], [...(byStatus.get(ERROR_CODES[code][0]) ?? []), code]);
  const out: Record<string, JsonObject> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const examples: JsonObject = {};
    for (const code of list) {
      examples[code] = { summary: ERROR_HINTS[code] ?? ERROR_CODES[code][1], value: problemExample(code, ERROR_HINTS[code] ?? `${ERROR_CODES[code][1]}.`, toExamplePath(path)) };
    }
    out[String(status)] = {
      description: list.map((c) => `\`${c}\``).join(', '),
      ...(status === 429 ? { headers: { 'Retry-After': { description: 'Seconds to wait before the next attempt.', schema: { type: 'integer' } } } } : {}),
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' }, examples } },
    };
  }
  return out;
}

/** `/api/v1/ingest/:tenant_id/batch` → `/api/v1/ingest/acme-corp/batch` for example `instance`s. */
const toExamplePath = (path: string) => path.replace(/:tenant_id/g, 'acme-corp').replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => `${name}-example`);

/** Builds the OpenAPI 3.1 document. Throws if a schema cannot be expressed (caught by the tests, not at runtime). */
export function buildOpenApiDocument(info: OpenApiInfo, routes: readonly RouteDoc[], shared: readonly NamedSchema[] = []): JsonObject {
  const components: Record<string, JsonObject> = {};
  const ref = (s: NamedSchema | AnySchema): JsonObject => {
    if (!isNamed(s)) return jsonSchemaOf(s);
    components[s.name] ??= jsonSchemaOf(s.schema);
    return { $ref: `#/components/schemas/${s.name}` };
  };
  for (const s of shared) ref(s);

  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const route of routes) {
    const path = toOpenApiPath(route.path);
    const access = accessDoc(route.access);
    const parameters: JsonObject[] = [];
    for (const name of [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1])) {
      const p = route.params?.[name];
      parameters.push({ name, in: 'path', required: true, description: p?.description, schema: { type: 'string' }, example: p?.example });
    }
    if (route.query) {
      const q = jsonSchemaOf(route.query) as { properties?: Record<string, JsonObject>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        parameters.push({ name, in: 'query', required: q.required?.includes(name) ?? false, schema, ...(typeof schema.description === 'string' ? { description: schema.description } : {}) });
      }
    }
    const responses: Record<string, JsonObject> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      const contentType = r.contentType ?? 'application/json';
      const media: JsonObject = {};
      if (r.schema) media.schema = ref(r.schema);
      if (r.example !== undefined) media.example = r.example;
      if (r.examples) media.examples = r.examples;
      responses[status] = {
        description: r.description,
        ...(r.headers ? { headers: Object.fromEntries(Object.entries(r.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }])) } : {}),
        ...(Number(status) === 204 ? {} : { content: { [contentType]: media } }),
      };
    }
    Object.assign(responses, errorResponses(route, route.path));
    const op: JsonObject = {
      operationId: route.operationId,
      summary: route.summary,
      description: [route.description, `**Access:** ${access.text}`].filter(Boolean).join('\n\n'),
      tags: route.tags,
      ...(parameters.length ? { parameters } : {}),
      ...(access.security ? { security: access.security } : {}),
      responses,
      ...(route.access.kind === 'tenant' || route.access.kind === 'tenant-or-admin' ? { 'x-frostbyte-scopes': route.access.scopes } : {}),
      ...(route.internal ? { 'x-internal': true } : {}),
    };
    if (route.request) op.requestBody = requestBody(route.request, ref);
    (paths[path] ??= {})[route.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version, description: info.description },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: info.servers,
    tags: info.tags,
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'EdDSA/ES256 JWT with claims `iss`, `aud`, `sub`, `tenant_id`, `scopes[]` (`ingest`, `query`, `audit`, `admin`), `exp`, `iat`, `jti`. Public keys: `/.well-known/jwks.json`.',
        },
        upstashSignature: { type: 'apiKey', in: 'header', name: 'Upstash-Signature', description: 'JWT signed with the current or next QStash signing key over the raw body.' },
      },
    },
  };
}

function requestBody(req: RequestDoc, ref: (s: NamedSchema | AnySchema) => JsonObject): JsonObject {
  if (req.contentType === 'application/json') {
    return { required: req.required ?? true, description: req.description, content: { 'application/json': { schema: ref(req.schema), examples: req.examples } } };
  }
  // Multipart: the manifest part (JSON, validated with the schema) first, then one `files` part per file.
  return {
    required: true,
    description: req.description,
    content: {
      'multipart/form-data': {
        schema: {
          type: 'object',
          required: ['manifest', 'files'],
          properties: {
            manifest: { ...ref(req.schema), description: 'The manifest (JSON). Must be the first part.' },
            files: { type: 'array', description: 'One part per manifest entry, its filename equal to the entry\'s `filename`. Also accepted as `files[]`.', items: { type: 'string', contentMediaType: 'application/octet-stream' } },
          },
        },
        encoding: { manifest: { contentType: 'application/json' }, files: { contentType: 'application/octet-stream' } },
        // The manifest part as sent; each file part is a document's bytes, shown by its name.
        examples: Object.fromEntries(Object.entries(req.examples).map(([name, ex]) => [name, { summary: ex.summary, value: { manifest: ex.value, files: filenamesOf(ex.value).map((f) => `<bytes of ${f}>`) } }])),
      },
    },
  };
}

function filenamesOf(manifest: unknown): string[] {
  const files = (manifest as { files?: { filename?: unknown }[] } | null)?.files;
  return Array.isArray(files) ? files.map((f) => String(f.filename)) : [];
}
