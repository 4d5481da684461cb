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
/** `a.example, 127.0.0.1` → ['a.example', '127.0.0.1'] (lower-case, brackets of IPv6 literals dropped). */
const hostList = v.pipe(
  v.string(),
  v.transform((s) => s.split(',').map((h) => h.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')).filter(Boolean)),
  v.check((hosts) => hosts.every((h) => /^[a-z0-9.:-]+$/.test(h)), 'must be comma-separated host names or IP addresses'),
);
const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** `5s,5m,2h` → [5000, 300000, 7200000] (milliseconds). */
const durationList = v.pipe(
  v.string(),
  v.regex(/^\s*\d+\s*(ms|s|m|h|d)\s*(,\s*\d+\s*(ms|s|m|h|d)\s*)*$/, 'must be comma-separated durations such as 5s,5m,2h'),
  v.transform((s) =>
    s.split(',').map((part) => {
      const m = /^\s*(\d+)\s*(ms|s|m|h|d)\s*$/.exec(part) as RegExpExecArray;
      return Number(m[1]) * DURATION_UNITS_MS[m[2] as keyof typeof DURATION_UNITS_MS];
    }),
  ),
);

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

  /** With a PostgreSQL server: each tenant database gets its own login role, its password derived from this secret. */
  TENANT_DB_ROLE_SECRET: v.optional(v.pipe(v.string(), v.minLength(32, 'must be at least 32 characters'))),

  /** S3-compatible object storage (MinIO in production). Unset: a local folder per tenant. */
  S3_ENDPOINT: v.optional(url),
  S3_REGION: v.optional(nonEmpty, 'us-east-1'),
  S3_ACCESS_KEY_ID: v.optional(nonEmpty),
  S3_SECRET_ACCESS_KEY: v.optional(nonEmpty),
  S3_BUCKET_PREFIX: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9.-]*$/, 'must be a bucket-name prefix')), 'frostbyte-'),
  S3_FORCE_PATH_STYLE: v.optional(bool, 'true'),
  /**
   * How each tenant's object requests are signed. `shared`: with S3_ACCESS_KEY_ID, which reaches
   * every tenant's bucket. `sts`: with a temporary session from the S3 server's STS AssumeRole API
   * whose policy names only that tenant's bucket (MinIO, AWS); bucket creation and deletion stay on
   * the platform key. Needs S3_ENDPOINT; the Node runtime only (Workers and Lambda refuse it).
   */
  S3_TENANT_CREDENTIALS: v.optional(v.picklist(['shared', 'sts'], 'must be shared or sts'), 'shared'),
  /** Where AssumeRole is called. Unset: S3_ENDPOINT (MinIO serves STS there); AWS: https://sts.<region>.amazonaws.com. */
  S3_STS_ENDPOINT: v.optional(url),
  /** Role the sessions assume: required by AWS; MinIO ignores it for its own users. */
  S3_STS_ROLE_ARN: v.optional(nonEmpty),
  /** Lifetime of a tenant's session in seconds; it is renewed five minutes before it ends. */
  S3_STS_DURATION_SECONDS: v.optional(
    v.pipe(v.string(), v.regex(/^\d+$/, 'must be a whole number'), v.transform(Number), v.minValue(900, 'must be at least 900'), v.maxValue(43200, 'must be at most 43200')),
    '3600',
  ),

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

  /**
   * Tenant provisioning (DESIGN §7). HCLOUD_TOKEN set: cloud resources on Hetzner Cloud for each
   * new tenant (network, firewall, server, volume). Unset: the embedded default, no cloud steps.
   */
  HCLOUD_TOKEN: v.optional(nonEmpty),
  /** Hetzner Cloud API base URL, default https://api.hetzner.cloud/v1 (tests point it at a double). */
  HCLOUD_ENDPOINT: v.optional(url, 'https://api.hetzner.cloud/v1'),
  /** Location of a tenant's server and volume; nbg1, fsn1 and hel1 share the eu-central network zone. */
  HCLOUD_LOCATION: v.optional(nonEmpty, 'nbg1'),
  HCLOUD_NETWORK_ZONE: v.optional(nonEmpty, 'eu-central'),
  HCLOUD_SERVER_TYPE: v.optional(nonEmpty, 'cx22'),
  HCLOUD_IMAGE: v.optional(nonEmpty, 'ubuntu-24.04'),
  /** Size of a tenant's data volume in GB (Hetzner: 10–10240). */
  HCLOUD_VOLUME_SIZE_GB: v.optional(positiveInt, '50'),
  /** Private network of a tenant (each tenant has its own network, so ranges may repeat). */
  HCLOUD_NETWORK_IP_RANGE: v.optional(v.pipe(v.string(), v.regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, 'must be an IPv4 CIDR')), '10.0.0.0/16'),
  HCLOUD_SUBNET_IP_RANGE: v.optional(v.pipe(v.string(), v.regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, 'must be an IPv4 CIDR')), '10.0.1.0/24'),
  /** Comma-separated CIDRs allowed to reach a tenant server on SSH (port 22). Unset: no SSH from outside. */
  HCLOUD_SSH_SOURCE_IPS: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*$/, 'must be comma-separated CIDRs'))),
  /**
   * DNS zone (a primary zone in the same Hetzner project) in which provisioning points each
   * tenant's host `{tenant}.TENANT_DOMAIN` at the tenant server's public IPv4 (an A record).
   * TENANT_DOMAIN must be this zone or below it. Unset: no DNS step.
   */
  HCLOUD_DNS_ZONE: v.optional(v.pipe(v.string(), v.toLowerCase(), v.regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'must be a domain name such as example.com'))),
  /**
   * Where a tenant's API is served, `{tenant}` replaced by the tenant id, e.g.
   * `https://{tenant}.pipeline.example.com`. Provisioning's health step calls
   * `{this}/api/v1/tenants/{tenant}/health`. Unset: this process's own API (the Node server's
   * listening address; PUBLIC_URL on Workers and Lambda).
   */
  TENANT_PUBLIC_URL: v.optional(
    v.pipe(
      v.string(),
      v.check((s) => /^https?:\/\//.test(s) && URL.canParse(s.replaceAll('{tenant}', 'tenant')), 'must be an http(s) URL, optionally with {tenant}'),
      v.transform((s) => s.replace(/\/+$/, '')),
    ),
  ),
  /** HTTP attempts of one run of the health step before it fails, and the first wait between them (doubled each time). */
  TENANT_HEALTH_ATTEMPTS: v.optional(positiveInt, '5'),
  TENANT_HEALTH_BACKOFF_MS: v.optional(positiveInt, '500'),
  /** A provisioning run still going after this many minutes is reported as stuck. */
  PROVISION_DEADLINE_MINUTES: v.optional(positiveInt, '15'),
  /** The platform owner's notification URL: provisioning failures, rollbacks and stuck runs are POSTed here as JSON. */
  PLATFORM_OWNER_WEBHOOK_URL: v.optional(url),

  /** Webhooks: plain-http endpoint URLs are refused unless this is true (local development and tests only). */
  WEBHOOK_ALLOW_HTTP: v.optional(bool, 'false'),
  /**
   * Comma-separated host names or IP literals that may be webhook destinations even though they are
   * (or resolve to) loopback, private, link-local, CGNAT or metadata addresses, e.g. `127.0.0.1`.
   * Matched against the URL's host exactly (case-insensitive). Default: none.
   */
  WEBHOOK_ALLOWED_HOSTS: v.optional(hostList, ''),
  /** Per-attempt timeout of a webhook delivery in milliseconds (connect, send and answer). */
  WEBHOOK_TIMEOUT_MS: v.optional(positiveInt, '10000'),
  /**
   * Delays before each retry of a failed webhook delivery (`ms`, `s`, `m`, `h`, `d`), comma-separated.
   * The default spans about three and a half days over 11 attempts (Standard Webhooks / Svix style).
   */
  WEBHOOK_RETRY_SCHEDULE: v.optional(durationList, '5s,5m,30m,2h,5h,10h,10h,14h,20h,24h'),
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
  if (env.S3_TENANT_CREDENTIALS === 'sts' && env.S3_ENDPOINT === undefined) {
    problems.push({ key: 'S3_TENANT_CREDENTIALS', message: 'sts needs S3_ENDPOINT: tenant buckets in local folders have no credentials' });
  }
  requireTogether(['QSTASH_URL', 'QSTASH_TOKEN', 'QSTASH_CURRENT_SIGNING_KEY', 'QSTASH_NEXT_SIGNING_KEY']);
  if (env.HCLOUD_DNS_ZONE !== undefined) {
    const zone = env.HCLOUD_DNS_ZONE;
    if (env.HCLOUD_TOKEN === undefined) problems.push({ key: 'HCLOUD_TOKEN', message: 'required when HCLOUD_DNS_ZONE is set' });
    if (env.TENANT_DOMAIN === undefined) problems.push({ key: 'TENANT_DOMAIN', message: 'required when HCLOUD_DNS_ZONE is set: tenant hosts are {tenant}.TENANT_DOMAIN' });
    else if (env.TENANT_DOMAIN !== zone && !env.TENANT_DOMAIN.endsWith(`.${zone}`)) {
      problems.push({ key: 'TENANT_DOMAIN', message: `must be the DNS zone ${zone} or a name below it (HCLOUD_DNS_ZONE)` });
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return env;
}
