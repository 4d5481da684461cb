/** Event vocabulary and shapes of the audit plane (DESIGN §6). */

/** Every event type Frostbyte records. The CEF mapping (cef.ts) has an entry for each. */
export const AUDIT_EVENT_TYPES = [
  'TENANT_CREATED',
  'TENANT_PROVISION_STARTED',
  'TENANT_PROVISION_STEP_COMPLETED',
  'TENANT_PROVISIONED',
  'TENANT_PROVISION_FAILED',
  'TENANT_PROVISION_RETRY',
  'TENANT_ROLLED_BACK',
  'TENANT_SUSPENDED',
  'TENANT_RESUMED',
  'TENANT_DEPROVISIONED',
  'TENANT_CONFIG_UPDATED',
  'BATCH_RECEIVED',
  'DOCUMENT_INGESTED',
  'DOCUMENT_REJECTED',
  'DOCUMENT_QUARANTINED',
  'DOCUMENT_DUPLICATE',
  'DOCUMENT_PARSED',
  'DOCUMENT_PARSE_FAILED',
  'CONTENT_DROPPED',
  'DOCUMENT_INDEXED',
  'DOCUMENT_INDEX_FAILED',
  'BATCH_COMPLETED',
  'WEBHOOK_DELIVERED',
  'WEBHOOK_FAILED',
  'RETRIEVAL_EXECUTED',
  'AUDIT_EXPORTED',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export const AUDIT_RESOURCE_TYPES = ['batch', 'document', 'chunk', 'query', 'tenant', 'export', 'webhook'] as const;
export type AuditResourceType = (typeof AUDIT_RESOURCE_TYPES)[number];

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(AUDIT_EVENT_TYPES);
const RESOURCE_TYPE_SET: ReadonlySet<string> = new Set(AUDIT_RESOURCE_TYPES);

export function isAuditEventType(value: unknown): value is AuditEventType {
  return typeof value === 'string' && EVENT_TYPE_SET.has(value);
}
export function isAuditResourceType(value: unknown): value is AuditResourceType {
  return typeof value === 'string' && RESOURCE_TYPE_SET.has(value);
}

/**
 * `details` of an event: plain JSON. The keys below have a fixed meaning where they apply;
 * `input_hash`/`output_hash` are lowercase SHA-256 hex (a `sha256:` prefix is tolerated when
 * comparing). Never document content, query text, PII or secrets.
 */
export type AuditDetails = Record<string, unknown> & {
  component?: string;
  input_hash?: string;
  output_hash?: string;
  pipeline_version?: string;
  duration_ms?: number;
  status?: string;
};

/** What a caller records; the chain fields are assigned when the event is appended. */
export interface AuditEventInput {
  event_type: AuditEventType;
  /** `system` or the token subject. */
  actor: string;
  resource_type: AuditResourceType;
  resource_id: string;
  details?: AuditDetails;
  /** Minted (`evt_…`) when absent. Appending an event_id already in the tenant's chain is a no-op. */
  event_id?: string;
  /** Server time, ISO-8601 UTC with milliseconds; read from the Clock when absent. */
  timestamp?: string;
}

/** One event of a tenant's chain, exactly as it is hashed and exported. */
export interface AuditEvent {
  event_id: string;
  tenant_id: string;
  /** 1-based, gap-free per tenant. */
  seq: number;
  event_type: AuditEventType;
  timestamp: string;
  actor: string;
  resource_type: AuditResourceType;
  resource_id: string;
  details: AuditDetails;
  /** The previous event of the same resource_id in this tenant (provenance chain); null for the first. */
  previous_event_id: string | null;
  /** `hash` of the event with seq − 1; GENESIS_HASH for seq 1. */
  prev_hash: string;
  /** SHA-256 hex of the RFC 8785 canonical JSON of every other field. */
  hash: string;
}

/** prev_hash of a tenant's first event. */
export const GENESIS_HASH = '0'.repeat(64);
