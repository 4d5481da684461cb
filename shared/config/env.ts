import * as v from 'valibot';

/**
 * The one settings schema for every runtime. Entries pass their environment in (domain code
 * never reads process.env); a bad or missing value stops start-up with the key named.
 */
const port = v.pipe(v.string(), v.regex(/^\d+$/, 'must be a whole number'), v.transform(Number), v.integer(), v.minValue(0), v.maxValue(65535));
const positiveInt = v.pipe(v.string(), v.regex(/^\d+$/, 'must be a whole number'), v.transform(Number), v.minValue(1));
const bool = v.pipe(v.picklist(['true', 'false', '1', '0'], 'must be true or false'), v.transform((s) => s === 'true' || s === '1'));
const url = v.pipe(v.string(), v.url('must be a URL'));
const nonEmpty = v.pipe(v.string(), v.minLength(1, 'must not be empty'));

export const EnvSchema = v.object({
  PORT: v.optional(port, '8080'),
  HOST: v.optional(nonEmpty, '127.0.0.1'),
  FROSTBYTE_DATA_DIR: v.optional(nonEmpty, './.frostbyte'),
  /** Public base URL of this deployment: step endpoints and report links are built from it. */
  PUBLIC_URL: v.optional(url),
  /** Tenant hosts are `{tenant}.TENANT_DOMAIN` (e.g. pipeline.frostbyte.io); `{tenant}.localhost` always works. */
  TENANT_DOMAIN: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9.-]+$/, 'must be a domain name'))),
  LOG_LEVEL: v.optional(v.picklist(['debug', 'info', 'warn', 'error']), 'info'),

  /** Control-plane PostgreSQL. Unset: the embedded PGlite database in FROSTBYTE_DATA_DIR. */
  DATABASE_URL: v.optional(v.pipe(v.string(), v.regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'))),
  /** Tenant databases are created on the same server, named TENANT_DATABASE_PREFIX + id. */
  TENANT_DATABASE_PREFIX: v.optional(v.pipe(v.string(), v.regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier prefix')), 'frostbyte_'),

  /** S3-compatible object storage (MinIO in production). Unset: a local folder per tenant. */
  S3_ENDPOINT: v.optional(url),
  S3_REGION: v.optional(nonEmpty, 'us-east-1'),
  S3_ACCESS_KEY_ID: v.optional(nonEmpty),
  S3_SECRET_ACCESS_KEY: v.optional(nonEmpty),
  S3_BUCKET_PREFIX: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9.-]*$/, 'must be a bucket-name prefix')), 'frostbyte-'),
  S3_FORCE_PATH_STYLE: v.optional(bool, 'true'),

  /** Upstash QStash for step chaining in production. Unset: the in-process relay. */
  QSTASH_URL: v.optional(url),
  QSTASH_TOKEN: v.optional(nonEmpty),
  QSTASH_CURRENT_SIGNING_KEY: v.optional(nonEmpty),
  QSTASH_NEXT_SIGNING_KEY: v.optional(nonEmpty),

  /** Delivery attempts of a step message before it is dead-lettered, and the first retry delay. */
  STEP_MAX_ATTEMPTS: v.optional(positiveInt, '6'),
  STEP_RETRY_BASE_MS: v.optional(positiveInt, '1000'),

  JWT_ISSUER: v.optional(nonEmpty, 'frostbyte'),
  JWT_AUDIENCE: v.optional(nonEmpty, 'frostbyte-api'),
  /** An extra JWKS to trust (an external token issuer); the platform's own keys are always trusted. */
  JWT_JWKS_URL: v.optional(url),

  /** clamd for malware scanning (INSTREAM over TCP). Unset: files are marked not_scanned. */
  CLAMD_HOST: v.optional(nonEmpty),
  CLAMD_PORT: v.optional(port, '3310'),

  /** Limits; tenants can only narrow them. Sizes in MiB (1 MiB = 1,048,576 bytes). */
  MAX_FILE_SIZE_MB: v.optional(positiveInt, '1024'),
  MAX_FILES_PER_BATCH: v.optional(positiveInt, '1000'),
  BATCH_RATE_LIMIT_PER_MINUTE: v.optional(positiveInt, '100'),
});

export type Env = v.InferOutput<typeof EnvSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: { key: string; message: string }[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads the settings; empty strings count as unset. Pairs that only work together are checked too. */
export function loadEnv(source: Record<string, string | undefined>): Env {
  const input: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.entries)) {
    const value = source[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = v.safeParse(EnvSchema, input);
  if (!parsed.success) {
    throw new ConfigError(parsed.issues.map((i) => ({ key: v.getDotPath(i) ?? '(env)', message: i.message })));
  }
  const env = parsed.output;
  const problems: { key: string; message: string }[] = [];
  const requireTogether = (keys: (keyof Env)[]) => {
    if (keys.some((k) => env[k] !== undefined)) {
      for (const k of keys) if (env[k] === undefined) problems.push({ key: k, message: `required when ${keys.filter((x) => env[x] !== undefined).join(', ')} is set` });
    }
  };
  requireTogether(['S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']);
  requireTogether(['QSTASH_URL', 'QSTASH_TOKEN', 'QSTASH_CURRENT_SIGNING_KEY', 'QSTASH_NEXT_SIGNING_KEY']);
  if (problems.length) throw new ConfigError(problems);
  return env;
}
