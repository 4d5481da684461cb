/**
 * Expected failures are values with a code. One table maps each code to its HTTP status and
 * title; the app factory turns them into RFC 9457 problem+json.
 */
export const ERROR_CODES = {
  MANIFEST_INVALID: [400, 'Manifest is invalid'],
  MANIFEST_FILE_COUNT_MISMATCH: [400, 'Manifest file count does not match'],
  DUPLICATE_FILE_ID: [400, 'Duplicate file id in manifest'],
  BATCH_TOO_LARGE: [400, 'Batch is too large'],
  MULTIPART_INVALID: [400, 'Request body is not valid multipart/form-data'],
  VALIDATION_FAILED: [400, 'Request validation failed'],
  UPLOAD_INCOMPLETE: [400, 'Upload ended before the body was complete'],
  AUTHENTICATION_REQUIRED: [401, 'Authentication required'],
  TOKEN_EXPIRED: [401, 'Token expired'],
  TOKEN_REVOKED: [401, 'Token revoked'],
  INSUFFICIENT_PERMISSIONS: [403, 'Insufficient permissions'],
  TENANT_MISMATCH: [403, 'Tenant mismatch'],
  TENANT_SUSPENDED: [403, 'Tenant suspended'],
  NOT_FOUND: [404, 'Not found'],
  BATCH_ID_CONFLICT: [409, 'Batch id already used with a different manifest'],
  CONFLICT: [409, 'Conflict'],
  PAYLOAD_TOO_LARGE: [413, 'Request body too large'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'Unsupported media type'],
  RATE_LIMIT_EXCEEDED: [429, 'Rate limit exceeded'],
  INTERNAL_ERROR: [500, 'Internal error'],
  SERVICE_UNAVAILABLE: [503, 'Service unavailable'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldProblem {
  field: string;
  message: string;
}

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extra: { errors?: FieldProblem[]; headers?: Record<string, string>; [k: string]: unknown } = {},
  ) {
    super(detail);
    this.name = 'AppError';
    this.status = ERROR_CODES[code][0];
  }
}

export function problemBody(err: AppError, requestId: string, instance?: string) {
  const { headers: _headers, ...extra } = err.extra;
  return {
    type: `https://frostbyte.dev/problems/${err.code.toLowerCase().replaceAll('_', '-')}`,
    title: ERROR_CODES[err.code][1],
    status: err.status,
    detail: err.detail,
    code: err.code,
    request_id: requestId,
    ...(instance ? { instance } : {}),
    ...extra,
  };
}
