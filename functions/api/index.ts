import { createApp } from '../../shared/http/app';
import type { Services } from '../../shared/services';
import { adminPipelineRoutes } from './admin/pipeline';
import { adminTokenRoutes } from './admin/tokens';
import { auditRoutes } from './audit';
import { docsRoutes } from './docs';
import { health } from './health';
import { metricsRoute } from './metrics';
import { queryRoutes } from './query/search';
import { batchStatusRoutes } from './ingest/batch-status';
import { reportRoute } from './ingest/report';
import { submitBatchRoute } from './ingest/submit-batch';
import { jwksRoute } from './wellknown/jwks';
import { webhookRoutes } from './webhooks/endpoints';
import { controlSteps, pipelineSteps } from '../steps';
import { adminTenantRoutes } from './admin/tenants';
import { tenantHealthRoute } from './tenants/health';
import { controlStepRoutes } from '../../shared/tenants/control-steps';
import { stepRoutes } from '../../shared/queue/step';

/** The whole HTTP API, the same on Node, Workers and Lambda. */
export function buildApi(services: Services | (() => Services)) {
  const app = createApp(services);
  app.route('/', health);
  app.route('/', jwksRoute);
  app.route('/', metricsRoute);
  app.route('/', docsRoutes);
  app.route('/api/v1', health);
  app.route('/api/v1', tenantHealthRoute);
  app.route('/api/v1', submitBatchRoute);
  app.route('/api/v1', batchStatusRoutes);
  app.route('/api/v1', reportRoute);
  app.route('/api/v1', queryRoutes);
  app.route('/api/v1', adminPipelineRoutes);
  app.route('/api/v1', adminTokenRoutes);
  app.route('/api/v1', webhookRoutes);
  app.route('/api/v1', adminTenantRoutes);
  app.route('/api/v1', auditRoutes);
  app.route('/', controlStepRoutes(controlSteps));
  app.route('/', stepRoutes(pipelineSteps));
  return app;
}
