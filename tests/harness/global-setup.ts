import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { eicarNdbSignature } from './eicar';
import './services'; // the ProvidedContext keys

/**
 * Starts what the suite needs, once per run: an s3rver child process and a clamd child process
 * (each on a free port, in a temp folder removed afterwards), and checks that the PostgreSQL
 * server answers. Tests read the values through tests/harness/services.ts.
 *
 * Nothing is skipped: a missing clamd binary or an unreachable PostgreSQL fails the run with a
 * message that says how to fix it (.ci/run installs and starts both).
 */
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** s3rver's fixed credentials. */
const S3RVER_KEY = 'S3RVER';
const STARTUP_TIMEOUT_MS = 30_000;

export default async function setup(project: TestProject) {
  const workDir = mkdtempSync(join(tmpdir(), 'frostbyte-test-services-'));
  const stops: (() => Promise<void>)[] = [];
  // If vitest exits without running teardown (a signal, process.exit), the children are killed by
  // track() and the temp folder goes here.
  const removeWorkDir = () => rmSync(workDir, { recursive: true, force: true });
  process.once('exit', removeWorkDir);
  const teardown = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
    process.removeListener('exit', removeWorkDir);
    removeWorkDir();
  };

  try {
    const databaseUrl = process.env.TEST_DATABASE_URL || DEFAULT_DATABASE_URL;
    // In parallel, but every start settles before a failure tears the others down.
    const [s3, clamd, pg] = await Promise.allSettled([
      startS3rver(join(workDir, 's3'), stops),
      startClamd(join(workDir, 'clamd'), stops),
      checkPostgres(databaseUrl),
    ]);
    const failures = [s3, clamd, pg].flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length > 0) throw failures.length === 1 ? failures[0] : new AggregateError(failures, failures.map((f) => f.message).join('\n'));
    if (s3.status !== 'fulfilled' || clamd.status !== 'fulfilled') throw new Error('unreachable'); // narrows the types: failures were thrown above
    project.provide('s3Endpoint', s3.value.endpoint);
    project.provide('s3Region', 'us-east-1');
    project.provide('s3AccessKeyId', S3RVER_KEY);
    project.provide('s3SecretAccessKey', S3RVER_KEY);
    project.provide('clamdHost', clamd.value.host);
    project.provide('clamdPort', clamd.value.port);
    project.provide('databaseUrl', databaseUrl);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}

async function startS3rver(dir: string, stops: (() => Promise<void>)[]): Promise<{ endpoint: string }> {
  const bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  // Port 0: s3rver binds a free port and prints it, so there is no race for a port number.
  const child = spawn(process.execPath, [bin, '--directory', dir, '--address', '127.0.0.1', '--port', '0', '--silent'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stops.push(track(child));
  const output = collectOutput(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output()}`)), STARTUP_TIMEOUT_MS);
    child.stdout?.on('data', () => {
      const m = /listening on [^\s:]+:(\d+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited (code ${code}) before it was ready:\n${output()}`));
    });
  });
  return { endpoint: `http://127.0.0.1:${port}` };
}

async function startClamd(dir: string, stops: (() => Promise<void>)[]): Promise<{ host: string; port: number }> {
  const clamdBin = findExecutable('clamd');
  if (!clamdBin) {
    throw new Error(
      'clamd is not installed, and the suite scans with a real ClamAV daemon. Run .ci/run (it installs ' +
        'clamav-daemon), or: apt-get install -y clamav-daemon clamav',
    );
  }
  const dbDir = join(dir, 'db');
  const tmp = join(dir, 'tmp');
  mkdirSync(dbDir, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  // One body signature instead of the official databases (about 1.2 GiB of RAM and a download).
  writeFileSync(join(dbDir, 'eicar.ndb'), eicarNdbSignature());
  const host = '127.0.0.1';

  // clamd takes its port from the config file; a port found free can be taken before clamd binds
  // it, so try again with a new one when that happens.
  for (let attempt = 1; ; attempt++) {
    const port = await findFreePort();
    const conf = join(dir, 'clamd.conf');
    const log = join(dir, 'clamd.log');
    writeFileSync(
      conf,
      [
        `DatabaseDirectory ${dbDir}`,
        `TemporaryDirectory ${tmp}`,
        `TCPSocket ${port}`,
        `TCPAddr ${host}`,
        'Foreground yes',
        `LogFile ${log}`,
        'LogTime yes',
        // INSTREAM bodies above this are answered "size limit exceeded. ERROR" (clamd's default is 100M too).
        'StreamMaxLength 100M',
        // No `User` line: CI runs as root and clamd keeps the user that started it.
        '',
      ].join('\n'),
    );
    const child = spawn(clamdBin, [`--config-file=${conf}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const stop = track(child);
    const output = collectOutput(child);
    let exited = false;
    child.once('exit', () => (exited = true));
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (!exited && Date.now() < deadline) {
      if ((await ping(host, port)) === 'PONG') {
        stops.push(stop);
        return { host, port };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop();
    const logText = readIfExists(log);
    if (exited && attempt < 3 && /bind|address already in use/i.test(logText + output())) continue;
    throw new Error(`clamd did not answer PING within ${STARTUP_TIMEOUT_MS} ms (config ${conf}):\n${output()}\n${logText}`);
  }
}

async function checkPostgres(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
  } catch (err) {
    const shown = url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
    throw new Error(
      `PostgreSQL is not reachable at ${shown}: ${(err as Error).message}. Run .ci/run (it starts the ` +
        'cluster and creates the test database), or set TEST_DATABASE_URL.',
      { cause: err },
    );
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Sends `zPING`; undefined while clamd is not listening yet. */
function ping(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const chunks: Buffer[] = [];
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('connect', () => socket.end('zPING\0'));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(chunks.length ? Buffer.concat(chunks).toString().replace(/\0+$/, '') : undefined));
  });
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Looks on PATH and in the sbin folders, which a non-root PATH often lacks (Debian puts clamd in /usr/sbin). */
function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Returns a stop function (SIGTERM, then SIGKILL after 5 s) and makes sure the child dies with
 * this process even when teardown never runs.
 */
function track(child: ChildProcess): () => Promise<void> {
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  return async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
}

/** Keeps the last 20 000 characters of a child's stdout and stderr for error messages. */
function collectOutput(child: ChildProcess): () => string {
  let text = '';
  const add = (d: Buffer) => {
    text = (text + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => text;
}

function readIfExists(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
