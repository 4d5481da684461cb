import { Hono } from 'hono';
import type { AppEnv } from '../../../shared/http/context';
import { getDelivery, listDeliveries, ListDeliveriesQuery, redeliver } from '../../../shared/webhooks/deliveries';
import {
  createEndpoint, CreateEndpointInput, deleteEndpoint, DisableEndpointInput, getEndpoint, listEndpoints, rotateEndpointSecret,
  RotateSecretInput, setEndpointEnabled, updateEndpoint, UpdateEndpointInput,
} from '../../../shared/webhooks/endpoints';
import { readJson, requireWebhookAccess, validate } from './access';

const base = '/webhooks/:tenant_id/endpoints';
const plane = (c: { get: <K extends 'services' | 'tenant'>(k: K) => AppEnv['Variables'][K] }) => c.get('services').planes.forTenant(c.get('tenant').id);

/** Webhook endpoints and their delivery log (scope ingest, or admin for any tenant). docs/webhooks.md. */
export const webhookRoutes = new Hono<AppEnv>()
  .post(base, requireWebhookAccess(), async (c) => {
    const input = await readJson(c, CreateEndpointInput);
    const { endpoint, secret } = await createEndpoint(c.get('services'), await plane(c), input);
    c.header('Location', `/api/v1/webhooks/${endpoint.tenant_id}/endpoints/${endpoint.id}`);
    return c.json({ ...endpoint, secret }, 201);
  })
  .get(base, requireWebhookAccess(), async (c) => c.json({ endpoints: await listEndpoints(await plane(c)) }))
  .get(`${base}/:endpoint_id`, requireWebhookAccess(), async (c) => c.json(await getEndpoint(await plane(c), c.req.param('endpoint_id'))))
  .patch(`${base}/:endpoint_id`, requireWebhookAccess(), async (c) => {
    const patch = await readJson(c, UpdateEndpointInput);
    return c.json(await updateEndpoint(c.get('services'), await plane(c), c.req.param('endpoint_id'), patch));
  })
  .post(`${base}/:endpoint_id/disable`, requireWebhookAccess(), async (c) => {
    const { reason } = await readJson(c, DisableEndpointInput);
    return c.json(await setEndpointEnabled(c.get('services'), await plane(c), c.req.param('endpoint_id'), false, reason));
  })
  .post(`${base}/:endpoint_id/enable`, requireWebhookAccess(), async (c) => {
    return c.json(await setEndpointEnabled(c.get('services'), await plane(c), c.req.param('endpoint_id'), true));
  })
  .post(`${base}/:endpoint_id/rotate-secret`, requireWebhookAccess(), async (c) => {
    const input = await readJson(c, RotateSecretInput);
    const { endpoint, secret } = await rotateEndpointSecret(c.get('services'), await plane(c), c.req.param('endpoint_id'), input);
    return c.json({ ...endpoint, secret });
  })
  .delete(`${base}/:endpoint_id`, requireWebhookAccess(), async (c) => {
    await deleteEndpoint(await plane(c), c.req.param('endpoint_id'));
    return c.body(null, 204);
  })
  .get(`${base}/:endpoint_id/deliveries`, requireWebhookAccess(), async (c) => {
    const query = validate(ListDeliveriesQuery, c.req.query(), 'Invalid query parameters.');
    return c.json(await listDeliveries(await plane(c), c.req.param('endpoint_id'), query));
  })
  .get(`${base}/:endpoint_id/deliveries/:delivery_id`, requireWebhookAccess(), async (c) => {
    return c.json(await getDelivery(await plane(c), c.req.param('endpoint_id'), c.req.param('delivery_id')));
  })
  .post(`${base}/:endpoint_id/deliveries/:delivery_id/redeliver`, requireWebhookAccess(), async (c) => {
    return c.json(await redeliver(c.get('services'), await plane(c), c.req.param('endpoint_id'), c.req.param('delivery_id')), 202);
  });
