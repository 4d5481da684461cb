import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { bundledMigrationsAreCurrent } from '../../functions/worker/bundle-migrations';
import { startQstashDouble } from '../doubles/qstash/qstash-double';

/**
 * What the `workers` project needs, started once per run in Node (workerd itself cannot spawn
 * processes): an s3rver child process, a control database of its own on the PostgreSQL server
 * (tenant databases share its name as prefix; all are dropped afterwards), and the QStash
 * publish-API double with a small read-only endpoint listing what was published, so tests inside
 * workerd can see what the Worker handed to QStash. The Worker's bindings are provided to the
 * cloudflareTest plugin (vitest.config.ts) as `workersBindings`.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    /** Vars and secrets of the Worker under test, named as in shared/config/env.ts. */
    workersBindings: Record<string, string>;
    /** GET → JSON array of what the QStash double received ({destination, body, headers, messageId}). */
    qstashPublishedUrl: string;
  }
}

const DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
/** A port nothing listens on: QStash's deliveries to the Worker's public URL fail fast (tests deliver themselves, signed). */
const UNREACHABLE = 'http://127.0.0.1:9';
const STARTUP_TIMEOUT_MS = 30_000;

export default async function setup(project: TestProject) {
  if (!bundledMigrationsAreCurrent()) {
    throw new Error('shared/db/bundled-migrations.ts is out of date with drizzle/: run `npx tsx functions/worker/bundle-migrations.ts` (npm run build:worker does it too).');
  }
  const runId = randomBytes(4).toString('hex');
  const database = `fbw_${runId}`;
  const workDir = mkdtempSync(join(tmpdir(), 'frostbyte-workers-'));
  const stops: (() => Promise<void>)[] = [];
  const teardown = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 });
    try {
      await admin.unsafe(`CREATE DATABASE "${database}"`);
    } catch (err) {
      throw new Error(`PostgreSQL is not reachable at ${DATABASE_URL}: ${(err as Error).message}. Run .ci/run or set TEST_DATABASE_URL.`, { cause: err });
    } finally {
      await admin.end({ timeout: 1 });
    }
    stops.push(() => dropDatabases(database));

    const s3 = await startS3rver(join(workDir, 's3'));
    stops.push(s3.stop);

    const keys = { token: `qstash-token-${runId}`, current: `sig_current_${runId}`, next: `sig_next_${runId}` };
    const qstash = await startQstashDouble({ token: keys.token, currentSigningKey: keys.current, retryDelayMs: 5 });
    stops.push(() => qstash.close());
    const inspect = await serveInspection(() => qstash.published);
    stops.push(inspect.close);

    const controlUrl = new URL(DATABASE_URL);
    controlUrl.pathname = `/${database}`;
    project.provide('workersBindings', {
      DATABASE_URL: controlUrl.toString(),
      TENANT_DATABASE_PREFIX: `${database}_`,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_BUCKET_PREFIX: `fbw-${runId}-`,
      QSTASH_URL: qstash.url,
      QSTASH_TOKEN: keys.token,
      QSTASH_CURRENT_SIGNING_KEY: keys.current,
      QSTASH_NEXT_SIGNING_KEY: keys.next,
      PUBLIC_URL: UNREACHABLE,
      // The parse runtime (Node/Lambda) lives elsewhere; `localhost` tells its messages apart from the Worker's own.
      STEP_BASE_URLS: 'parse=http://localhost:9',
      // 1 MiB, so the 413 path is tested without sending 100 MB.
      MAX_REQUEST_BYTES: String(1024 * 1024),
      LARGE_UPLOAD_URL: 'https://intake.frostbyte.test',
      LOG_LEVEL: 'error',
    });
    project.provide('qstashPublishedUrl', inspect.url);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}

async function dropDatabases(prefix: string) {
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname = ${prefix} OR datname LIKE ${`${prefix}\\_%`}`;
    for (const { datname } of rows) await sql.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** s3rver as a child process on a free port (the same way tests/harness/global-setup.ts runs it). */
async function startS3rver(dir: string): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  const child = spawn(process.execPath, [bin, '--directory', dir, '--address', '127.0.0.1', '--port', '0', '--silent'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  };
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output}`)), STARTUP_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = /listening on [^\s:]+:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited (code ${code}) before it was ready:\n${output}`));
    });
  }).catch(async (e: unknown) => {
    await stop();
    throw e;
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop };
}

async function serveInspection(published: () => unknown[]): Promise<{ url: string; close: () => Promise<void> }> {
  const app = new Hono().get('/published', (c) => c.json(published()));
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/published`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
