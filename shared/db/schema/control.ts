import { sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** Control plane (DESIGN §2): one database for the platform. */

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export type TenantState = 'PENDING' | 'PROVISIONING' | 'ACTIVE' | 'SUSPENDED' | 'DEPROVISIONING' | 'DEPROVISIONED' | 'FAILED';

export interface TenantConfig {
  /** Narrows the platform's MIME allowlist; never widens it. */
  mime_allowlist?: string[];
  max_file_size_mb?: number;
  max_files_per_batch?: number;
  batch_rate_limit_per_minute?: number;
  retention_days?: number;
}

export interface TenantStorage {
  /** Database name on the configured server; absent on the embedded default. */
  database?: string;
  /** Bucket on the S3 endpoint, or the object folder name on the embedded default. */
  bucket: string;
  schema: string;
}

export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  state: text('state').$type<TenantState>().notNull(),
  config: jsonb('config').$type<TenantConfig>().notNull().default({}),
  configVersion: integer('config_version').notNull().default(1),
  storage: jsonb('storage').$type<TenantStorage | null>(),
  createdAt: ts('created_at').notNull(),
  updatedAt: ts('updated_at').notNull(),
});

/** Platform signing keys (Ed25519): tokens and audit-export manifests. Public halves form the JWKS. */
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  alg: text('alg').notNull(),
  publicJwk: jsonb('public_jwk').$type<Record<string, unknown>>().notNull(),
  privateJwk: jsonb('private_jwk').$type<Record<string, unknown>>().notNull(),
  createdAt: ts('created_at').notNull(),
  /** No longer used to sign; still published until every token it signed has expired. */
  retiredAt: ts('retired_at'),
});

export const revokedTokens = pgTable('revoked_tokens', {
  jti: text('jti').primaryKey(),
  tenantId: text('tenant_id'),
  revokedAt: ts('revoked_at').notNull(),
  expiresAt: ts('expires_at').notNull(),
});

/** Fixed-window counters: one row per (key, window). */
export const rateLimits = pgTable(
  'rate_limits',
  {
    key: text('key').notNull(),
    windowStart: ts('window_start').notNull(),
    count: integer('count').notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.windowStart] })],
);

/** The per-tenant hash-chained audit log (DESIGN §6). Append-only: triggers refuse UPDATE, DELETE and TRUNCATE. */
export const auditEvents = pgTable(
  'audit_events',
  {
    tenantId: text('tenant_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    timestamp: text('timestamp').notNull(),
    actor: text('actor').notNull(),
    resourceType: text('resource_type').notNull(),
    resourceId: text('resource_id').notNull(),
    details: jsonb('details').$type<Record<string, unknown>>().notNull(),
    previousEventId: text('previous_event_id'),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.seq] }),
    uniqueIndex('audit_events_event_id').on(t.eventId),
    index('audit_events_resource').on(t.tenantId, t.resourceId, t.seq),
    index('audit_events_time').on(t.tenantId, t.timestamp),
    index('audit_events_type').on(t.tenantId, t.eventType, t.seq),
  ],
);

/** Chain head per tenant; appends lock this row, so concurrent writers never fork the chain. */
export const auditHeads = pgTable('audit_heads', {
  tenantId: text('tenant_id').primaryKey(),
  lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
  lastHash: text('last_hash').notNull(),
  lastEventId: text('last_event_id'),
});

/** Step messages whose retries ran out (DESIGN §3). Operators list them and retry. */
export const deadLetters = pgTable(
  'dead_letters',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    topic: text('topic').notNull(),
    dedupId: text('dedup_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    error: text('error').notNull(),
    attempts: integer('attempts').notNull(),
    createdAt: ts('created_at').notNull(),
    retriedAt: ts('retried_at'),
  },
  (t) => [index('dead_letters_tenant').on(t.tenantId, t.createdAt)],
);

export const controlSchema = { deadLetters, tenants, signingKeys, revokedTokens, rateLimits, auditEvents, auditHeads };
void sql;
