import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { dbKeyRing } from '../../shared/auth/keys';
import { systemClock, type Clock } from '../../shared/clock';
import type { ServerlessSettings } from '../../shared/config/serverless';
import { controlMigrations, tenantMigrations } from '../../shared/db/bundled-migrations';
import { ensureControlSchema } from '../../shared/db/control-schema';
import { openPostgres } from '../../shared/db/postgres';
import { perDatabasePlanes } from '../../shared/db/postgres-planes';
import { LocalHashEmbedder } from '../../shared/index/embedder';
import type { Logger } from '../../shared/log';
import { nodeSha256 } from '../../shared/node/sha256';
import type { DocumentParser } from '../../shared/pipeline/ports';
import { createAfterResponseRelay } from '../../shared/queue/after-response';
import { qstashQueue } from '../../shared/queue/qstash-queue';
import { routeStepsByTopic } from '../../shared/queue/routed-queue';
import { qstashVerifier } from '../../shared/queue/signing';
import type { MalwareScanner } from '../../shared/scanner/malware-scanner';
import type { Services } from '../../shared/services';
import { createS3Client, createS3Store } from '../../shared/storage/s3-store';
import { createHetznerCloudProvider } from '../../shared/tenants/cloud/hetzner';
import { createLocalCloudProvider } from '../../shared/tenants/cloud/local';
import { webhookHooks } from '../../shared/webhooks/enqueue';
import type { WebhookRuntime } from '../../shared/webhooks/ports';

export interface ServerlessWireOptions {
  log: Logger;
  clock?: Clock;
  /**
   * Base URL at which this function's own step routes are reached: QStash signatures are
   * verified against `{ownStepsBaseUrl}/steps/{topic}`. PUBLIC_URL, except for a Lambda parse
   * function, which is reached at its function URL.
   */
  ownStepsBaseUrl: string;
  /** Connection string for the control plane, when it differs from DATABASE_URL (a Hyperdrive binding). */
  controlConnectionString?: string;
  /** Connections per pool: control plane and each tenant database. */
  poolSize: { control: number; tenant: number };
  /**
   * Whether close() ends the database connections. Workers: no — the runtime closes an
   * invocation's sockets when it ends, and postgres.js's end() leaves an unhandled rejection
   * there (porsager/postgres#1202). Lambda: yes.
   */
  endConnections: boolean;
  /** Only the parse step's runtime (Lambda, Node) has one; elsewhere the parse step answers 503. */
  parser?: DocumentParser;
  scanner?: MalwareScanner | null;
  /** Lambda (Node) pins webhook connections to vetted addresses; absent: fetch without DNS pinning. */
  webhooks?: WebhookRuntime;
}

export interface ServerlessRuntime {
  services: Services;
  /** Sweeps what requests wrote (outbox, audit outbox); run after the response. */
  relay: ReturnType<typeof createAfterResponseRelay>;
  close(): Promise<void>;
}

/** Control schema checked once per isolate / container (see ensureControlSchema). */
let controlSchemaChecked = false;

/**
 * Wires Services for Workers and Lambda: PostgreSQL over TCP (postgres.js), a database per
 * tenant on the same server, MinIO/S3 buckets, QStash for step chaining, and bundled migrations
 * (no file system to read drizzle/ from). Pure wiring: each piece is the one the Node server
 * uses with DATABASE_URL and S3_ENDPOINT set.
 */
export async function wireServerless(settings: ServerlessSettings, opts: ServerlessWireOptions): Promise<ServerlessRuntime> {
  const { env } = settings;
  const clock = opts.clock ?? systemClock;
  const log = opts.log;
  const { S3_ENDPOINT: s3Endpoint, S3_ACCESS_KEY_ID: s3Key, S3_SECRET_ACCESS_KEY: s3Secret, PUBLIC_URL: publicUrl } = env;
  const { QSTASH_TOKEN: qstashToken, QSTASH_CURRENT_SIGNING_KEY: currentKey, QSTASH_NEXT_SIGNING_KEY: nextKey } = env;
  // loadServerlessSettings required all of these; the check narrows the types.
  if (!s3Endpoint || !s3Key || !s3Secret || !publicUrl || !qstashToken || !currentKey || !nextKey) {
    throw new Error('wireServerless: settings were not checked by loadServerlessSettings');
  }

  const s3 = createS3Client({ endpoint: s3Endpoint, region: env.S3_REGION, accessKeyId: s3Key, secretAccessKey: s3Secret, forcePathStyle: env.S3_FORCE_PATH_STYLE });
  const stores = (bucket: string) => createS3Store(s3, bucket);
  const storageCheck = async () => {
    await s3.send(new ListBucketsCommand({}));
  };

  const control = await openPostgres(opts.controlConnectionString ?? settings.databaseUrl, { max: opts.poolSize.control });
  if (!controlSchemaChecked) {
    const outcome = await ensureControlSchema(control.db, settings.databaseUrl, controlMigrations, { closeAfter: opts.endConnections });
    if (outcome === 'migrated') log.log('info', 'control-plane migrations applied', { component: 'db' });
    controlSchemaChecked = true;
  }
  const planes = perDatabasePlanes({
    controlUrl: settings.databaseUrl, databasePrefix: env.TENANT_DATABASE_PREFIX, migrations: tenantMigrations,
    stores, bucketPrefix: env.S3_BUCKET_PREFIX, storageCheck, poolSize: opts.poolSize.tenant, roleSecret: env.TENANT_DB_ROLE_SECRET,
  });

  // QStash retries delivery itself: STEP_MAX_ATTEMPTS deliveries in all (6 by default).
  const publish = (stepsBaseUrl: string) => qstashQueue({ baseUrl: env.QSTASH_URL, token: qstashToken, stepsBaseUrl, retries: env.STEP_MAX_ATTEMPTS - 1 });
  const routed = Object.fromEntries(Object.entries(settings.stepBaseUrls).map(([topic, base]) => [topic, publish(base)]));
  // Topics not routed elsewhere go to the deployment's public URL (the API).
  const queue = routeStepsByTopic(publish(publicUrl), routed);

  const cloud = env.HCLOUD_TOKEN
    ? createHetznerCloudProvider({ token: env.HCLOUD_TOKEN, baseUrl: env.HCLOUD_ENDPOINT, clock, logger: log, dnsZone: env.HCLOUD_DNS_ZONE })
    : createLocalCloudProvider();

  const services: Services = {
    env, clock, log, control: control.db, controlCapabilities: control.capabilities, planes, cloud,
    keys: dbKeyRing(control.db, clock),
    tokens: { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, jwksUrl: env.JWT_JWKS_URL },
    scanner: opts.scanner ?? null,
    sha256: nodeSha256,
    queue,
    steps: { baseUrl: opts.ownStepsBaseUrl, verifier: qstashVerifier({ current: currentKey, next: nextKey }) },
    parser: opts.parser,
    embedder: new LocalHashEmbedder(),
    webhooks: opts.webhooks,
  };
  services.hooks = { ...services.hooks, ...webhookHooks(services) };
  const relay = createAfterResponseRelay(services);
  return {
    services,
    relay,
    async close() {
      s3.destroy();
      if (!opts.endConnections) return;
      await planes.close().catch(() => {});
      await control.close().catch(() => {});
    },
  };
}
