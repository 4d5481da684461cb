import * as v from 'valibot';
import { ConfigError, loadEnv, type Env } from './env';

/**
 * Settings of the serverless entries (functions/worker, functions/lambda): the one env schema
 * (./env.ts) plus the few keys only these runtimes read, and the keys they cannot run without.
 * What the embedded default falls back to (PGlite, local folders, the in-process relay) does not
 * exist on Workers or Lambda, so a missing key stops start-up with the key named instead.
 */
export type ServerlessRuntime = 'workers' | 'lambda';

/**
 * Largest request body each runtime can take, in bytes. Workers: Cloudflare's edge accepts
 * 100 MB bodies on the Free and Pro plans (200 MB Business, 500 MB Enterprise) and answers
 * anything larger itself. Lambda: the synchronous invocation payload is at most 6 MB
 * (6,291,456 bytes) and API Gateway base64-encodes binary bodies (4/3), so raw bodies above
 * about 4.5 MiB never reach the function.
 */
export const DEFAULT_MAX_REQUEST_BYTES: Record<ServerlessRuntime, number> = {
  workers: 100_000_000,
  lambda: 4_718_592,
};

const TOPIC = /^[a-z][a-z0-9_-]*$/;

/** `parse=https://steps.example.com,index=https://…` → { parse: 'https://steps.example.com', … }. */
const topicUrls = v.pipe(
  v.string(),
  v.transform((s) =>
    s
      .split(',')
      .map((pair) => pair.trim())
      .filter(Boolean)
      .map((pair) => {
        const at = pair.indexOf('=');
        return at < 0 ? ['', pair] : [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      }),
  ),
  v.check((pairs) => pairs.every(([topic, url]) => TOPIC.test(topic) && URL.canParse(url) && /^https?:/.test(url)), 'must be comma-separated topic=URL pairs, e.g. parse=https://steps.example.com'),
  v.transform((pairs) => Object.fromEntries(pairs) as Record<string, string>),
);
const positiveInt = v.pipe(v.string(), v.regex(/^\d+$/, 'must be a whole number'), v.transform(Number), v.minValue(1));

export const ServerlessSchema = v.object({
  /**
   * Where QStash delivers each step topic: `topic=base URL` pairs; the message goes to
   * `{base}/steps/{topic}`. Topics not listed go to PUBLIC_URL. On Workers `parse` must point
   * at the Node or Lambda step runtime (Workers do not parse). Default: none.
   */
  STEP_BASE_URLS: v.optional(topicUrls, ''),
  /** Requests whose Content-Length (or streamed size) exceeds this many bytes are answered 413. Default per runtime, above. */
  MAX_REQUEST_BYTES: v.optional(positiveInt),
  /** The large-file intake vendors are sent to in a 413 answer: the Node server of the same deployment. */
  LARGE_UPLOAD_URL: v.optional(v.pipe(v.string(), v.url('must be a URL'))),
});

export interface ServerlessSettings {
  runtime: ServerlessRuntime;
  env: Env;
  /** Control-plane database URL, always set (DATABASE_URL is required on these runtimes). */
  databaseUrl: string;
  stepBaseUrls: Record<string, string>;
  maxRequestBytes: number;
  largeUploadUrl?: string;
}

/** Keys a serverless runtime cannot start without, and why. */
const REQUIRED: { keys: (keyof Env)[]; why: string; runtimes: ServerlessRuntime[] }[] = [
  { keys: ['DATABASE_URL'], why: 'the embedded PGlite database cannot run here; set the PostgreSQL server (postgres://…)', runtimes: ['workers', 'lambda'] },
  {
    keys: ['S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'],
    why: 'there is no local object folder here; set the S3 endpoint (MinIO) and its credentials',
    runtimes: ['workers', 'lambda'],
  },
  {
    keys: ['QSTASH_URL', 'QSTASH_TOKEN', 'QSTASH_CURRENT_SIGNING_KEY', 'QSTASH_NEXT_SIGNING_KEY'],
    why: 'steps are chained through Upstash QStash; the in-process relay cannot run here',
    runtimes: ['workers', 'lambda'],
  },
  { keys: ['PUBLIC_URL'], why: 'the API\'s public base URL: QStash step URLs and report links are built from it', runtimes: ['workers', 'lambda'] },
];

/** Keys whose feature this runtime cannot provide: refused rather than silently ignored. */
const REFUSED: { key: keyof Env; why: string; runtimes: ServerlessRuntime[] }[] = [
  {
    key: 'CLAMD_HOST',
    // node:net itself works under nodejs_compat; the reason is where Workers connect from.
    why: "clamd's INSTREAM protocol is unauthenticated plaintext and Workers reach it over the public internet; scan on the Node intake (LARGE_UPLOAD_URL) or on Lambda inside the VPC, or unset it (receipts then say scan_result not_scanned)",
    runtimes: ['workers'],
  },
];

/**
 * Reads and checks the settings of a serverless runtime. Throws ConfigError naming every bad,
 * missing or refused key at once.
 */
export function loadServerlessSettings(source: Record<string, string | undefined>, runtime: ServerlessRuntime): ServerlessSettings {
  const problems: { key: string; message: string }[] = [];
  let env: Env | null = null;
  try {
    env = loadEnv(source);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  const extraInput: Record<string, string> = {};
  for (const key of Object.keys(ServerlessSchema.entries)) {
    const value = source[key];
    if (value !== undefined && value !== '') extraInput[key] = value;
  }
  const extra = v.safeParse(ServerlessSchema, extraInput);
  if (!extra.success) problems.push(...extra.issues.map((i) => ({ key: v.getDotPath(i) ?? '(env)', message: i.message })));

  const isSet = (key: string) => source[key] !== undefined && source[key] !== '';
  const named = new Set(problems.map((p) => p.key));
  for (const rule of REQUIRED) {
    if (!rule.runtimes.includes(runtime)) continue;
    for (const key of rule.keys) {
      if (!isSet(key) && !named.has(key)) problems.push({ key, message: `required on ${runtime}: ${rule.why}` });
    }
  }
  for (const rule of REFUSED) {
    if (rule.runtimes.includes(runtime) && isSet(rule.key)) problems.push({ key: rule.key, message: `not available on ${runtime}: ${rule.why}` });
  }
  if (source.S3_TENANT_CREDENTIALS === 'sts' && !named.has('S3_TENANT_CREDENTIALS')) {
    problems.push({ key: 'S3_TENANT_CREDENTIALS', message: `sts is not available on ${runtime}: per-tenant STS sessions are made by the Node server only; use shared here (docs/deploy.md §4)` });
  }
  if (runtime === 'workers' && extra.success && !extra.output.STEP_BASE_URLS.parse && !named.has('STEP_BASE_URLS')) {
    problems.push({ key: 'STEP_BASE_URLS', message: 'must route parse=<base URL> to the Node or Lambda step runtime: Workers do not parse (no worker threads, no OCR, 128 MB of memory)' });
  }
  if (problems.length || !env || !extra.success || !env.DATABASE_URL) {
    // One problem per key: loadEnv's "required when … is set" and ours can name the same one.
    throw new ConfigError(problems.filter((p, i) => problems.findIndex((q) => q.key === p.key) === i));
  }
  return {
    runtime,
    env,
    databaseUrl: env.DATABASE_URL,
    stepBaseUrls: extra.output.STEP_BASE_URLS,
    maxRequestBytes: extra.output.MAX_REQUEST_BYTES ?? DEFAULT_MAX_REQUEST_BYTES[runtime],
    ...(extra.output.LARGE_UPLOAD_URL ? { largeUploadUrl: extra.output.LARGE_UPLOAD_URL } : {}),
  };
}

/** Only the string values of a Workers `env` (bindings such as HYPERDRIVE are objects). */
export function stringSettings(bindings: object): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, value] of Object.entries(bindings)) if (typeof value === 'string') out[k] = value;
  return out;
}
