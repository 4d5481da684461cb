/**
 * Frostbyte on AWS Lambda (SST v3/v4 components, `npx sst deploy --stage production`): the same Hono app as
 * the Node server and the Worker, through `hono/aws-lambda` (functions/lambda/index.ts).
 *
 * - One function per route group behind an HTTP API (API Gateway v2), and one per step:
 *   the short steps (index, webhook, provision, QStash's failure callback) are API routes; the
 *   steps that may outlast API Gateway's 30 s integration limit (parse, audit export) have
 *   function URLs, and QStash is told where each topic goes with STEP_BASE_URLS.
 * - Scheduled jobs (shared/queue/scheduled-jobs.ts) run from EventBridge (sst.aws.Cron).
 * - PostgreSQL and MinIO are the Hetzner-hosted servers of docs/deploy.md, reached over the
 *   internet with TLS; nothing stateful lives in AWS.
 *
 * Settings are named as in shared/config/env.ts. Secrets: `npx sst secret set <Name> <value>`
 * (names below). Non-secret settings come from the deploying shell (FROSTBYTE_* variables below),
 * so a missing one stops `sst deploy` with its name.
 *
 * Types: `npm run typecheck` checks this file against functions/lambda/sst-platform.d.ts, the
 * documented subset of SST's platform globals; `sst install` (online) generates the full ones.
 */

/** A deploy-time setting from the shell; its absence stops the deploy with the name. */
function setting(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`sst.config.ts: set ${name} in the deploying shell (see docs/deploy.md)`);
  return value;
}

export default $config({
  app(input) {
    return {
      name: 'frostbyte',
      home: 'aws',
      removal: input?.stage === 'production' ? 'retain' : 'remove',
      protect: input?.stage === 'production',
      // Close to Hetzner's Falkenstein/Nuremberg: the database and MinIO are one short hop away.
      providers: { aws: { region: 'eu-central-1' } },
    };
  },

  async run() {
    const { SCHEDULED_JOBS } = await import('./shared/queue/scheduled-jobs');

    const secrets = {
      DATABASE_URL: new sst.Secret('DatabaseUrl'),
      S3_ACCESS_KEY_ID: new sst.Secret('S3AccessKeyId'),
      S3_SECRET_ACCESS_KEY: new sst.Secret('S3SecretAccessKey'),
      QSTASH_TOKEN: new sst.Secret('QstashToken'),
      QSTASH_CURRENT_SIGNING_KEY: new sst.Secret('QstashCurrentSigningKey'),
      QSTASH_NEXT_SIGNING_KEY: new sst.Secret('QstashNextSigningKey'),
    };
    const settings: Record<string, SstInput<string>> = {
      DATABASE_URL: secrets.DATABASE_URL.value,
      TENANT_DATABASE_PREFIX: setting('FROSTBYTE_TENANT_DATABASE_PREFIX', 'frostbyte_'),
      S3_ENDPOINT: setting('FROSTBYTE_S3_ENDPOINT'),
      S3_REGION: setting('FROSTBYTE_S3_REGION', 'us-east-1'),
      S3_ACCESS_KEY_ID: secrets.S3_ACCESS_KEY_ID.value,
      S3_SECRET_ACCESS_KEY: secrets.S3_SECRET_ACCESS_KEY.value,
      S3_BUCKET_PREFIX: setting('FROSTBYTE_S3_BUCKET_PREFIX', 'frostbyte-'),
      S3_FORCE_PATH_STYLE: 'true',
      QSTASH_URL: setting('FROSTBYTE_QSTASH_URL', 'https://qstash.upstash.io'),
      QSTASH_TOKEN: secrets.QSTASH_TOKEN.value,
      QSTASH_CURRENT_SIGNING_KEY: secrets.QSTASH_CURRENT_SIGNING_KEY.value,
      QSTASH_NEXT_SIGNING_KEY: secrets.QSTASH_NEXT_SIGNING_KEY.value,
      JWT_ISSUER: setting('FROSTBYTE_JWT_ISSUER', 'frostbyte'),
      JWT_AUDIENCE: setting('FROSTBYTE_JWT_AUDIENCE', 'frostbyte-api'),
      LOG_LEVEL: setting('FROSTBYTE_LOG_LEVEL', 'info'),
      LARGE_UPLOAD_URL: setting('FROSTBYTE_LARGE_UPLOAD_URL'),
      ...(process.env.FROSTBYTE_TENANT_DOMAIN ? { TENANT_DOMAIN: process.env.FROSTBYTE_TENANT_DOMAIN } : {}),
    };

    const api = new sst.aws.ApiGatewayV2('Api');
    const base = { runtime: 'nodejs20.x', architecture: 'arm64' } as const;
    // Everything but its own URL: a function-URL function learns that from its first request.
    const shared = { ...settings, PUBLIC_URL: api.url };

    // Long-running steps at their own function URLs (QStash waits for the answer; API Gateway would cut it at 30 s).
    const parse = new sst.aws.Function('StepParse', {
      ...base,
      handler: 'functions/lambda/index.parse',
      url: true,
      // Parsing and OCR run in worker threads sized to the vCPUs: 3008 MB ≈ 2 vCPUs.
      memory: '3008 MB',
      timeout: '15 minutes',
      storage: '1024 MB',
      environment: shared,
      // The parse worker thread loads shared/node/parse-task.ts through tsx at run time.
      copyFiles: [{ from: 'shared', to: 'shared' }],
      nodejs: {
        install: ['tsx', 'piscina', 'unpdf', 'mammoth', 'exceljs', 'fflate', 'saxes', 'csv-parse', 'file-type', 'pngjs', 'utif2', 'tesseract.js', '@tesseract.js-data/eng', 'canonicalize', 'valibot'],
      },
    });
    const auditExport = new sst.aws.Function('StepAuditExport', {
      ...base, handler: 'functions/lambda/index.longStep', url: true, memory: '1024 MB', timeout: '15 minutes', environment: shared,
    });
    const environment = { ...shared, STEP_BASE_URLS: $interpolate`parse=${parse.url},audit-export=${auditExport.url}` };

    const fn = (memory: sst.aws.Size, timeout: sst.aws.Duration): sst.aws.FunctionArgs => ({ ...base, handler: 'functions/lambda/index.api', memory, timeout, environment });
    // Route groups (functions/api/*): each its own function, sized for its work.
    const small = fn('256 MB', '10 seconds');
    api.route('GET /health', small);
    api.route('GET /health/ready', small);
    api.route('GET /api/v1/health', small);
    api.route('GET /api/v1/health/ready', small);
    api.route('GET /.well-known/jwks.json', small);
    // Intake streams multipart bodies; Lambda's 6 MB invocation payload caps a request (MAX_REQUEST_BYTES, docs/deploy.md).
    api.route('ANY /api/v1/ingest/{proxy+}', fn('1024 MB', '30 seconds'));
    api.route('ANY /api/v1/query/{proxy+}', fn('1024 MB', '30 seconds'));
    api.route('ANY /api/v1/audit/{proxy+}', fn('512 MB', '30 seconds'));
    api.route('ANY /api/v1/admin/{proxy+}', fn('512 MB', '30 seconds'));
    api.route('ANY /api/v1/webhooks/{proxy+}', fn('256 MB', '30 seconds'));
    // Short steps: QStash delivers `{PUBLIC_URL}/steps/{topic}`.
    api.route('POST /steps/index', fn('1024 MB', '30 seconds'));
    api.route('POST /steps/webhook', fn('256 MB', '30 seconds'));
    api.route('POST /steps/provision', fn('512 MB', '30 seconds'));
    api.route('POST /steps/failed', fn('256 MB', '10 seconds'));

    for (const job of SCHEDULED_JOBS) {
      const name = job.name.replace(/(^|-)([a-z])/g, (_m, _dash: string, c: string) => c.toUpperCase());
      new sst.aws.Cron(`Job${name}`, {
        schedule: job.rate,
        function: { ...base, handler: 'functions/lambda/index.scheduled', memory: '512 MB', timeout: '5 minutes', environment },
        event: { job: job.name },
      });
    }

    return { api: api.url, parse: parse.url, auditExport: auditExport.url };
  },
});
