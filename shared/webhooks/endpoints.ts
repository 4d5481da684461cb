import { desc, eq, inArray } from 'drizzle-orm';
import * as v from 'valibot';
import { AppError } from '../http/errors';
import { newId } from '../ids';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';
import { checkDestination, destinationPolicy, DestinationRefusedError, MAX_URL_LENGTH } from './destination';
import { WEBHOOK_EVENT_TYPES } from './events';
import type { webhookEndpoints } from './schema';
import { generateWebhookSecret } from './secrets';

/** Endpoints one tenant may have. */
export const MAX_ENDPOINTS_PER_TENANT = 20;
/** How long the previous secret keeps signing after a rotation, unless the request says otherwise (hours). */
export const DEFAULT_ROTATION_GRACE_HOURS = 24;
/** Longest grace period a rotation may ask for (hours; one week). */
export const MAX_ROTATION_GRACE_HOURS = 168;

const Url = v.pipe(v.string('must be a string'), v.trim(), v.minLength(1, 'is required'), v.maxLength(MAX_URL_LENGTH, `must be at most ${MAX_URL_LENGTH} characters`));
const Events = v.pipe(
  v.array(v.picklist(WEBHOOK_EVENT_TYPES, `must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}`), 'must be an array of event types'),
  v.minLength(1, 'must name at least one event'),
  v.check((events) => new Set(events).size === events.length, 'must not repeat an event'),
);
const Description = v.nullable(v.pipe(v.string('must be a string'), v.maxLength(500, 'must be at most 500 characters')));

export const CreateEndpointInput = v.strictObject({
  url: Url,
  events: Events,
  description: v.optional(Description, null),
});
export type CreateEndpointInput = v.InferOutput<typeof CreateEndpointInput>;

export const UpdateEndpointInput = v.pipe(
  v.strictObject({ url: v.optional(Url), events: v.optional(Events), description: v.optional(Description) }),
  v.check((p) => p.url !== undefined || p.events !== undefined || p.description !== undefined, 'name at least one of url, events, description'),
);
export type UpdateEndpointInput = v.InferOutput<typeof UpdateEndpointInput>;

export const RotateSecretInput = v.strictObject({
  grace_period_hours: v.optional(v.pipe(v.number('must be a number'), v.minValue(0, 'must be 0 or more'), v.maxValue(MAX_ROTATION_GRACE_HOURS, `must be at most ${MAX_ROTATION_GRACE_HOURS}`)), DEFAULT_ROTATION_GRACE_HOURS),
});

export const DisableEndpointInput = v.strictObject({
  reason: v.optional(v.pipe(v.string('must be a string'), v.maxLength(500, 'must be at most 500 characters'))),
});

type EndpointRow = typeof webhookEndpoints.$inferSelect;

/** What the API shows of an endpoint: everything but the secrets. */
export function endpointView(tenantId: string, e: EndpointRow) {
  return {
    id: e.id,
    tenant_id: tenantId,
    url: e.url,
    description: e.description,
    events: e.events,
    status: e.status,
    disabled_reason: e.disabledReason,
    failing_since: e.failingSince?.toISOString() ?? null,
    previous_secret_expires_at: e.previousSecret && e.previousSecretExpiresAt ? e.previousSecretExpiresAt.toISOString() : null,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}
export type EndpointView = ReturnType<typeof endpointView>;

/** The URL must pass the destination rules now; they are checked again before every attempt. */
async function vetUrl(services: Services, url: string) {
  try {
    await checkDestination(url, destinationPolicy(services.env), services.webhooks?.resolveHost);
  } catch (e) {
    if (!(e instanceof DestinationRefusedError)) throw e;
    throw new AppError('VALIDATION_FAILED', `The endpoint URL is not allowed: ${e.message}`, { errors: [{ field: 'url', message: e.message }] });
  }
}

async function requireEndpoint(plane: DataPlane, endpointId: string): Promise<EndpointRow> {
  const { webhookEndpoints: t } = plane.tables;
  const [row] = await plane.db.select().from(t).where(eq(t.id, endpointId)).limit(1);
  // Another tenant's endpoint id is simply not in this tenant's tables: the same 404.
  if (!row) throw new AppError('NOT_FOUND', `Webhook endpoint ${endpointId} was not found.`);
  return row;
}

/** Creates an endpoint; the signing secret is in this answer and never again. */
export async function createEndpoint(services: Services, plane: DataPlane, input: CreateEndpointInput): Promise<{ endpoint: EndpointView; secret: string }> {
  await vetUrl(services, input.url);
  const { webhookEndpoints: t } = plane.tables;
  const now = services.clock.now();
  const secret = generateWebhookSecret();
  const row = await plane.db.transaction(async (tx) => {
    const existing = await tx.select({ id: t.id }).from(t).limit(MAX_ENDPOINTS_PER_TENANT);
    if (existing.length >= MAX_ENDPOINTS_PER_TENANT) throw new AppError('CONFLICT', `A tenant can have at most ${MAX_ENDPOINTS_PER_TENANT} webhook endpoints; delete one first.`);
    const [created] = await tx
      .insert(t)
      .values({ id: newId('whk'), url: input.url, description: input.description, events: input.events, secret, status: 'active', createdAt: now, updatedAt: now })
      .returning();
    return created;
  });
  return { endpoint: endpointView(plane.tenantId, row), secret };
}

export async function listEndpoints(plane: DataPlane): Promise<EndpointView[]> {
  const { webhookEndpoints: t } = plane.tables;
  const rows = await plane.db.select().from(t).orderBy(desc(t.createdAt)).limit(MAX_ENDPOINTS_PER_TENANT);
  return rows.map((r) => endpointView(plane.tenantId, r));
}

export async function getEndpoint(plane: DataPlane, endpointId: string): Promise<EndpointView> {
  return endpointView(plane.tenantId, await requireEndpoint(plane, endpointId));
}

export async function updateEndpoint(services: Services, plane: DataPlane, endpointId: string, patch: UpdateEndpointInput): Promise<EndpointView> {
  await requireEndpoint(plane, endpointId);
  if (patch.url !== undefined) await vetUrl(services, patch.url);
  const { webhookEndpoints: t } = plane.tables;
  const [row] = await plane.db
    .update(t)
    .set({
      ...(patch.url !== undefined ? { url: patch.url } : {}),
      ...(patch.events !== undefined ? { events: patch.events } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      updatedAt: services.clock.now(),
    })
    .where(eq(t.id, endpointId))
    .returning();
  if (!row) throw new AppError('NOT_FOUND', `Webhook endpoint ${endpointId} was not found.`);
  return endpointView(plane.tenantId, row);
}

/**
 * Disabling stops new deliveries and fails pending ones when their next attempt comes up;
 * enabling clears the reason and the failing streak (nothing missed while disabled is sent).
 */
export async function setEndpointEnabled(services: Services, plane: DataPlane, endpointId: string, enabled: boolean, reason?: string): Promise<EndpointView> {
  await requireEndpoint(plane, endpointId);
  const { webhookEndpoints: t } = plane.tables;
  const [row] = await plane.db
    .update(t)
    .set(enabled
      ? { status: 'active', disabledReason: null, failingSince: null, updatedAt: services.clock.now() }
      : { status: 'disabled', disabledReason: reason ?? 'Disabled by request.', updatedAt: services.clock.now() })
    .where(eq(t.id, endpointId))
    .returning();
  if (!row) throw new AppError('NOT_FOUND', `Webhook endpoint ${endpointId} was not found.`);
  return endpointView(plane.tenantId, row);
}

/**
 * A new secret, returned once. The one it replaces keeps signing alongside it (both signatures in
 * `webhook-signature`) for `grace_period_hours`, so receivers can switch without missing a message.
 */
export async function rotateEndpointSecret(services: Services, plane: DataPlane, endpointId: string, input: { grace_period_hours: number }) {
  const current = await requireEndpoint(plane, endpointId);
  const { webhookEndpoints: t } = plane.tables;
  const now = services.clock.now();
  const secret = generateWebhookSecret();
  const graceMs = Math.round(input.grace_period_hours * 3_600_000);
  const [row] = await plane.db
    .update(t)
    .set({
      secret,
      previousSecret: graceMs > 0 ? current.secret : null,
      previousSecretExpiresAt: graceMs > 0 ? new Date(now.getTime() + graceMs) : null,
      updatedAt: now,
    })
    .where(eq(t.id, endpointId))
    .returning();
  if (!row) throw new AppError('NOT_FOUND', `Webhook endpoint ${endpointId} was not found.`);
  return { endpoint: endpointView(plane.tenantId, row), secret };
}

/** Deletes the endpoint with its delivery log; queued attempts find nothing and stop. */
export async function deleteEndpoint(plane: DataPlane, endpointId: string): Promise<void> {
  await requireEndpoint(plane, endpointId);
  const { webhookEndpoints: t, webhookDeliveries: d, webhookAttempts: a } = plane.tables;
  await plane.db.transaction(async (tx) => {
    const deliveries = tx.select({ id: d.id }).from(d).where(eq(d.endpointId, endpointId));
    await tx.delete(a).where(inArray(a.deliveryId, deliveries));
    await tx.delete(d).where(eq(d.endpointId, endpointId));
    await tx.delete(t).where(eq(t.id, endpointId));
  });
}

export { requireEndpoint };
