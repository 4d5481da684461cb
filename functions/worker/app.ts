import { buildApi } from '../api';
import { createApp } from '../../shared/http/app';
import { limitRequestSize, type RequestSizeLimit } from '../../shared/http/request-size';
import type { Services } from '../../shared/services';

/**
 * The API as the serverless entries serve it: buildApi behind a request-size check, so a body
 * the platform cannot take is answered with a 413 problem+json that names the large-file intake,
 * instead of a dropped connection or the platform's own HTML error.
 */
export function buildServerlessApp(services: () => Services, limit: RequestSizeLimit) {
  const app = createApp(services);
  app.use('*', limitRequestSize(limit));
  app.route('/', buildApi(services));
  return app;
}
