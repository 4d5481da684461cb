import { serve } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalHashEmbedder } from '../../shared/index/embedder';
import { createParsePool } from '../../shared/node/parse-pool';
import { createPrometheusMetrics } from '../../shared/node/metrics';
import { PARSER_VERSION } from '../../shared/parse/parse-document';
import type { DocumentParser } from '../../shared/pipeline/ports';
import { localQueue } from '../../shared/queue/local-queue';
import { qstashQueue } from '../../shared/queue/qstash-queue';
import type { Queue, SignatureVerifier } from '../../shared/queue/queue';
import { qstashVerifier } from '../../shared/queue/signing';
import { dbKeyRing } from '../../shared/auth/keys';
import { systemClock, type Clock } from '../../shared/clock';
import type { Env } from '../../shared/config/env';
import { applyMigrations } from '../../shared/db/migrate';
import { jsonLogger, type Logger } from '../../shared/log';
import { createClamdScanner } from '../../shared/node/clamd';
import { lockDataDir } from '../../shared/node/data-dir-lock';
import { sharedDatabasePlanes } from '../../shared/node/data-planes';
import { perDatabasePlanes } from '../../shared/db/postgres-planes';
import { openPglite, openPostgres } from '../../shared/node/databases';
import { createLocalStore } from '../../shared/node/local-store';
import { loadMigrations } from '../../shared/node/migrations';
import { nodeSha256 } from '../../shared/node/sha256';
import type { Services } from '../../shared/services';
import { createS3Client, createS3Store } from '../../shared/storage/s3-store';
import { scopedS3Stores } from '../../shared/storage/tenant-credentials';
import type { ObjectStoreFactory } from '../../shared/storage/object-store';
import { nodeResolveHost } from '../../shared/node/resolve-host';
import { nodeWebhookSender } from '../../shared/node/webhook-sender';
import { webhookHooks } from '../../shared/webhooks/enqueue';
import { createHetznerCloudProvider } from '../../shared/tenants/cloud/hetzner';
import { createLocalCloudProvider } from '../../shared/tenants/cloud/local';
import { buildApi } from '../api';

export interface NodeRuntime {
  services: Services;
  /** True on the embedded default (PGlite in the data dir). */
  embedded: boolean;
  /** The server calls this once it listens: its own requests (the health step's) go there. */
  listeningAt(url: string): void;
  close(): Promise<void>;
}

/**
 * Wires the Node runtime from settings: PGlite + local folders by default, PostgreSQL and S3
 * when DATABASE_URL / S3_ENDPOINT are set. `holder` names who takes the data-dir lock.
 */
export interface WireOptions {
  holder: string;
  clock?: Clock;
  log?: Logger;
  pglite?: { inMemory?: boolean };
  /**
   * Start the parser pool (the server and step workers do; short CLI commands do not). `warm`
   * also has its threads parse a sample PDF at start (pool.warmUp), as a long-running server does.
   */
  parser?: boolean | 'warm';
  /** How the local relay reaches step routes; default real HTTP to PUBLIC_URL. Tests hand in app.request. */
  stepsFetch?: (url: string, init: RequestInit) => Promise<Response>;
}

export async function wireNode(env: Env, opts: WireOptions = { holder: 'frostbyte' }): Promise<NodeRuntime> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? jsonLogger((line) => process.stdout.write(`${line}\n`), env.LOG_LEVEL, () => clock.now());
  const dataDir = resolve(env.FROSTBYTE_DATA_DIR);
  const closers: (() => Promise<void>)[] = [];

  let stores: ObjectStoreFactory;
  let storageCheck: () => Promise<void>;
  if (env.S3_ENDPOINT && env.S3_ACCESS_KEY_ID && env.S3_SECRET_ACCESS_KEY) {
    const settings = {
      endpoint: env.S3_ENDPOINT, region: env.S3_REGION, accessKeyId: env.S3_ACCESS_KEY_ID,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY, forcePathStyle: env.S3_FORCE_PATH_STYLE,
    };
    const client = createS3Client(settings);
    // The platform client also creates and deletes buckets and answers the readiness check.
    stores = env.S3_TENANT_CREDENTIALS === 'sts'
      ? scopedS3Stores(client, settings, {
          endpoint: env.S3_STS_ENDPOINT ?? env.S3_ENDPOINT, region: env.S3_REGION, accessKeyId: env.S3_ACCESS_KEY_ID,
          secretAccessKey: env.S3_SECRET_ACCESS_KEY, roleArn: env.S3_STS_ROLE_ARN, durationSeconds: env.S3_STS_DURATION_SECONDS,
        })
      : (bucket) => createS3Store(client, bucket);
    storageCheck = async () => {
      await client.send(new (await import('@aws-sdk/client-s3')).ListBucketsCommand({}));
    };
    closers.push(async () => client.destroy());
  } else {
    const root = join(dataDir, 'objects');
    stores = (bucket) => createLocalStore(root, bucket);
    storageCheck = async () => {
      const { access, mkdir } = await import('node:fs/promises');
      await mkdir(root, { recursive: true });
      await access(root);
    };
  }

  const tenantMigrations = loadMigrations('tenant');
  const controlMigrations = loadMigrations('control');
  let control: Services['control'];
  let capabilities: Services['controlCapabilities'];
  let planes: Services['planes'];
  let embedded = false;
  if (env.DATABASE_URL) {
    const db = await openPostgres(env.DATABASE_URL);
    closers.push(db.close);
    control = db.db;
    capabilities = db.capabilities;
    planes = perDatabasePlanes({ controlUrl: env.DATABASE_URL, databasePrefix: env.TENANT_DATABASE_PREFIX, migrations: tenantMigrations, stores, bucketPrefix: env.S3_BUCKET_PREFIX, storageCheck, roleSecret: env.TENANT_DB_ROLE_SECRET });
    if (!env.TENANT_DB_ROLE_SECRET) log.log('warn', 'TENANT_DB_ROLE_SECRET is not set: tenant databases are reached with the platform credentials instead of a role per tenant', { component: 'db' });
    if (!capabilities.vector) log.log('warn', 'pgvector is not installed on this PostgreSQL server: vector search uses an exact scan (fine for small tenants and tests only)', { component: 'db' });
  } else {
    embedded = true;
    const inMemory = opts.pglite?.inMemory ?? false;
    if (!inMemory) {
      const release = await lockDataDir(dataDir, opts.holder);
      closers.unshift(release);
    }
    const db = await openPglite(inMemory ? undefined : join(dataDir, 'pglite'));
    closers.unshift(db.close);
    control = db.db;
    capabilities = db.capabilities;
    planes = sharedDatabasePlanes({ db: db.db, capabilities, migrations: tenantMigrations, stores, bucketPrefix: env.S3_BUCKET_PREFIX, storageCheck });
  }
  closers.unshift(() => planes.close());
  await applyMigrations(control, controlMigrations, { schema: 'public' });

  const stepsBaseUrl = env.PUBLIC_URL ?? `http://${env.HOST}:${env.PORT}`;
  let queue: Queue;
  let verifier: SignatureVerifier;
  if (env.QSTASH_TOKEN && env.QSTASH_CURRENT_SIGNING_KEY && env.QSTASH_NEXT_SIGNING_KEY) {
    queue = qstashQueue({ baseUrl: env.QSTASH_URL, token: env.QSTASH_TOKEN, stepsBaseUrl });
    verifier = qstashVerifier({ current: env.QSTASH_CURRENT_SIGNING_KEY, next: env.QSTASH_NEXT_SIGNING_KEY });
  } else {
    // The local relay signs like QStash with a key of its own, kept in the data dir.
    const key = env.QSTASH_CURRENT_SIGNING_KEY ?? (opts.pglite?.inMemory ? randomBytes(32).toString('hex') : relaySigningKey(dataDir));
    // Signatures are checked against real time by the QStash receiver, whatever clock tests use.
    queue = localQueue({ stepsBaseUrl, signingKey: key, clock: systemClock, fetchImpl: opts.stepsFetch });
    verifier = qstashVerifier({ current: key, next: env.QSTASH_NEXT_SIGNING_KEY ?? key });
  }

  let parser: DocumentParser | undefined;
  if (opts.parser) {
    const pool = createParsePool();
    parser = { version: PARSER_VERSION, parse: (bytes, meta) => pool.parse(bytes, meta), parseCanonical: (bytes, meta) => pool.parseCanonical(bytes, meta) };
    closers.unshift(() => pool.close());
    if (opts.parser === 'warm') {
      void pool.warmUp().catch((e: unknown) => log.log('warn', 'parser warm-up failed', { component: 'parser', error: e instanceof Error ? e.message : String(e) }));
    }
  }

  // HCLOUD_TOKEN chooses Hetzner for the cloud steps of provisioning; without it there are none.
  const cloud = env.HCLOUD_TOKEN
    ? createHetznerCloudProvider({ token: env.HCLOUD_TOKEN, baseUrl: env.HCLOUD_ENDPOINT, clock, logger: log, dnsZone: env.HCLOUD_DNS_ZONE })
    : createLocalCloudProvider();
  const scanner = env.CLAMD_HOST ? createClamdScanner({ host: env.CLAMD_HOST, port: env.CLAMD_PORT, timeoutMs: 60_000 }) : null;
  const services: Services = {
    env, clock, log, control, controlCapabilities: capabilities, planes, cloud,
    keys: dbKeyRing(control, clock),
    tokens: { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, jwksUrl: env.JWT_JWKS_URL },
    scanner, sha256: nodeSha256, queue,
    steps: { baseUrl: stepsBaseUrl, verifier },
    parser,
    embedder: new LocalHashEmbedder(),
  };
  // Webhooks: connections pinned to the addresses the SSRF check vetted; deliveries are queued
  // inside the batch-completion and parse-failure transactions.
  services.webhooks = { sender: nodeWebhookSender(), resolveHost: nodeResolveHost };
  services.hooks = { ...services.hooks, ...webhookHooks(services) };
  services.metrics = createPrometheusMetrics(() => services);

  // A process that provisions without serving HTTP (the CLI, tests) still answers the health
  // step's request over real HTTP: its API on a loopback port, opened on first use.
  let listening: string | undefined;
  let loopback: Promise<{ url: string; close(): Promise<void> }> | undefined;
  services.selfUrl = async () => {
    if (listening) return listening;
    if (!loopback) {
      loopback = serveLoopback(buildApi(services).fetch);
      // A listener that could not open is tried again on the next call.
      loopback.catch(() => (loopback = undefined));
    }
    return (await loopback).url;
  };
  closers.unshift(async () => {
    if (loopback) await (await loopback).close();
  });
  return {
    services,
    embedded,
    listeningAt(url) {
      listening = url;
    },
    async close() {
      for (const c of closers) await c().catch(() => {});
    },
  };
}

function serveLoopback(fetchApp: (request: Request) => Response | Promise<Response>): Promise<{ url: string; close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: fetchApp, port: 0, hostname: '127.0.0.1' }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            if ('closeAllConnections' in server) server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
    server.once('error', reject);
  });
}

/** The embedded relay's signing key: made once, kept beside the database (mode 0600). */
function relaySigningKey(dataDir: string): string {
  const file = join(dataDir, 'relay-signing-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString('hex');
  writeFileSync(file, key, { mode: 0o600 });
  return key;
}
