import type { ConfigError } from '../config/env';
import { newId } from '../ids';

/**
 * The answer of a serverless entry whose settings are incomplete or refused: a 500
 * problem+json naming the keys (never their values), so the operator who deployed it sees
 * what to set. A Worker has no start-up log to read, so the first request has to say it.
 */
export function configProblemResponse(err: ConfigError, runtime: string, request: Request): Response {
  const requestId = newId('req');
  const body = {
    type: 'https://frostbyte.dev/problems/configuration-invalid',
    title: 'Service misconfigured',
    status: 500,
    detail: `This ${runtime} deployment cannot start: ${err.problems.map((p) => p.key).join(', ')} ${err.problems.length === 1 ? 'is' : 'are'} missing, invalid or not available here. See docs/deploy.md.`,
    code: 'CONFIGURATION_INVALID',
    request_id: requestId,
    instance: new URL(request.url).pathname,
    errors: err.problems.map((p) => ({ field: p.key, message: p.message })),
  };
  return new Response(JSON.stringify(body), { status: 500, headers: { 'Content-Type': 'application/problem+json', 'X-Request-Id': requestId } });
}

/**
 * The answer when the entry could not wire its services (database or object storage
 * unreachable at start-up): 503 problem+json with Retry-After, details only in the log.
 */
export function unavailableResponse(request: Request, requestId: string): Response {
  const body = {
    type: 'https://frostbyte.dev/problems/service-unavailable',
    title: 'Service unavailable',
    status: 503,
    detail: 'A backing service is unreachable. Retry shortly; quote the request_id when you contact support.',
    code: 'SERVICE_UNAVAILABLE',
    request_id: requestId,
    instance: new URL(request.url).pathname,
  };
  return new Response(JSON.stringify(body), { status: 503, headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '10', 'X-Request-Id': requestId } });
}
