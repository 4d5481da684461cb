import { systemClock, type Clock } from '../clock';
import type { TenantTables } from '../db/schema/tenant';
import type { DbOrTx } from '../db/types';
import { newId } from '../ids';
import { canonicalJson, normalizeTimestamp } from './hashing';
import { isAuditEventType, isAuditResourceType, type AuditDetails, type AuditEventInput, type AuditEventType, type AuditResourceType } from './types';

/** An event that cannot be recorded as given (a programming error in the caller, not a client error). */
export class AuditEventInvalidError extends Error {
  readonly code = 'AUDIT_EVENT_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'AuditEventInvalidError';
  }
}

/** An input event with every field decided and checked, ready to be stored or chained. */
export interface PreparedEvent {
  event_id: string;
  event_type: AuditEventType;
  timestamp: string;
  actor: string;
  resource_type: AuditResourceType;
  resource_id: string;
  details: AuditDetails;
}

const EVENT_ID = /^evt_[0-9A-Za-z_-]{1,64}$/;
/** Bounds on identifiers and on details (bytes of canonical JSON): events are metadata, not payloads. */
const MAX_ID_LENGTH = 256;
const MAX_DETAILS_LENGTH = 16_384;

export function prepareEvent(input: AuditEventInput, clock: Clock): PreparedEvent {
  if (!isAuditEventType(input.event_type)) throw new AuditEventInvalidError(`unknown audit event_type: ${String(input.event_type)}`);
  if (!isAuditResourceType(input.resource_type)) throw new AuditEventInvalidError(`unknown audit resource_type: ${String(input.resource_type)}`);
  for (const field of ['actor', 'resource_id'] as const) {
    const v = input[field];
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID_LENGTH) {
      throw new AuditEventInvalidError(`audit ${field} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
    }
  }
  const eventId = input.event_id ?? newId('evt');
  if (!EVENT_ID.test(eventId)) throw new AuditEventInvalidError(`audit event_id must look like evt_…, got ${eventId}`);
  const timestamp = normalizeTimestamp(input.timestamp ?? clock.now());
  if (!timestamp) throw new AuditEventInvalidError(`audit timestamp is not an ISO-8601 time: ${String(input.timestamp)}`);
  const raw = input.details ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AuditEventInvalidError('audit details must be a JSON object');
  // Round-trip through canonical JSON so what is stored (jsonb) and what is hashed are the same
  // plain JSON: undefined members vanish, Dates become strings, NaN and lone surrogates throw here.
  let text: string;
  try {
    text = canonicalJson(raw);
  } catch (err) {
    throw new AuditEventInvalidError(`audit details are not valid JSON: ${(err as Error).message}`);
  }
  if (text.length > MAX_DETAILS_LENGTH) throw new AuditEventInvalidError(`audit details exceed ${MAX_DETAILS_LENGTH} characters`);
  // jsonb cannot hold U+0000; refuse it here rather than fail the caller's transaction later.
  if (text.includes('\\u0000')) throw new AuditEventInvalidError('audit details must not contain U+0000');
  return {
    event_id: eventId,
    event_type: input.event_type,
    timestamp,
    actor: input.actor,
    resource_type: input.resource_type,
    resource_id: input.resource_id,
    details: JSON.parse(text) as AuditDetails,
  };
}

/**
 * Records a data-plane event in the tenant's `audit_outbox`, inside the caller's transaction, so
 * the event exists if and only if the state change it describes committed. `flushAuditOutbox`
 * later appends it to the tenant's chain (seq, hashes and previous_event_id are assigned then).
 */
export async function recordEvent(tx: DbOrTx, tables: TenantTables, event: AuditEventInput, clock: Clock = systemClock): Promise<{ event_id: string; timestamp: string }> {
  const [recorded] = await recordEvents(tx, tables, [event], clock);
  return recorded;
}

/** `recordEvent` for several events in one INSERT; their order is the order they will be chained in. */
export async function recordEvents(tx: DbOrTx, tables: TenantTables, events: AuditEventInput[], clock: Clock = systemClock): Promise<{ event_id: string; timestamp: string }[]> {
  if (events.length === 0) return [];
  const prepared = events.map((e) => prepareEvent(e, clock));
  // One multi-row INSERT assigns ordinals in the order of the VALUES list.
  await tx.insert(tables.auditOutbox).values(
    prepared.map((e) => ({
      eventId: e.event_id,
      eventType: e.event_type,
      timestamp: e.timestamp,
      actor: e.actor,
      resourceType: e.resource_type,
      resourceId: e.resource_id,
      details: e.details,
    })),
  );
  return prepared.map((e) => ({ event_id: e.event_id, timestamp: e.timestamp }));
}
