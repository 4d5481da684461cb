import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';

/**
 * A vendor's webhook receiver, as a separate process on 127.0.0.1: it verifies every request with
 * the `standardwebhooks` library against the secrets it was given and answers as told.
 *
 * Per path it is told (POST /_control/configure {path, secrets?, responses?, fallback?}):
 * - `secrets`: secrets to verify with; each received request records, per secret, whether it verified;
 * - `responses`: a queue of answers for the next requests, then `fallback` (default `200`):
 *   a status code (`'200'`, `'500'`, `'410'`), `'hang'` (never answer), `'redirect'` (302 to
 *   `/redirect-target`, which records any request it gets), `'big'` (200 with a 1 MiB body).
 * GET /_control/received?path=… lists what arrived (headers, body, verified[]).
 *
 * Tests start it with `startWebhookReceiver()`; the process is the entry when
 * FROSTBYTE_WEBHOOK_RECEIVER=1.
 */

export interface ReceivedRequest {
  path: string;
  at: number;
  headers: { 'webhook-id'?: string; 'webhook-timestamp'?: string; 'webhook-signature'?: string; 'content-type'?: string; 'user-agent'?: string };
  body: string;
  /** One entry per configured secret: did `Webhook#verify` accept the request with it. */
  verified: boolean[];
  /** The verifier's message when a secret did not verify. */
  errors: (string | null)[];
  answered: string;
}

interface PathConfig {
  secrets: string[];
  responses: string[];
  fallback: string;
}

function runReceiver() {
  const configs = new Map<string, PathConfig>();
  const received: ReceivedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const config = (path: string) => configs.get(path) ?? { secrets: [], responses: [], fallback: '200' };

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://receiver');
    const body = await readBody(req);
    if (url.pathname === '/_control/configure') {
      const c = JSON.parse(body) as Partial<PathConfig> & { path: string };
      const prev = config(c.path);
      configs.set(c.path, { secrets: c.secrets ?? prev.secrets, responses: c.responses ?? [], fallback: c.fallback ?? prev.fallback });
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === '/_control/received') {
      const path = url.searchParams.get('path');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received.filter((r) => !path || r.path === path)));
      return;
    }
    const c = config(url.pathname);
    const action = c.responses.shift() ?? c.fallback;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const verified: boolean[] = [];
    const errors: (string | null)[] = [];
    for (const secret of c.secrets) {
      try {
        new Webhook(secret).verify(body, headers);
        verified.push(true);
        errors.push(null);
      } catch (e) {
        verified.push(false);
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    received.push({
      path: url.pathname, at: Date.now(), body, verified, errors, answered: action,
      headers: {
        'webhook-id': headers['webhook-id'], 'webhook-timestamp': headers['webhook-timestamp'], 'webhook-signature': headers['webhook-signature'],
        'content-type': headers['content-type'], 'user-agent': headers['user-agent'],
      },
    });
    if (action === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (action === 'redirect') {
      res.writeHead(302, { location: `http://127.0.0.1:${(server.address() as { port: number }).port}/redirect-target` }).end();
      return;
    }
    if (action === 'big') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(1024 * 1024));
      return;
    }
    const status = Number(action);
    res.writeHead(Number.isInteger(status) && status >= 200 && status <= 599 ? status : 200, { 'content-type': 'text/plain' }).end(`receiver answered ${action}`);
  });
  server.listen(Number(process.env.WEBHOOK_RECEIVER_PORT ?? '0'), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  });
  const stop = () => {
    for (const r of hanging) r.destroy();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export interface WebhookReceiver {
  port: number;
  url(path: string): string;
  configure(path: string, config: { secrets?: string[]; responses?: string[]; fallback?: string }): Promise<void>;
  received(path?: string): Promise<ReceivedRequest[]>;
  /** Waits until `path` has at least `count` requests. */
  waitFor(path: string, count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  stop(): Promise<void>;
}

/** Starts the receiver as a child process (node + tsx) and waits for its port. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, FROSTBYTE_WEBHOOK_RECEIVER: '1', WEBHOOK_RECEIVER_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('webhook receiver did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`webhook receiver exited early (code ${code})`)));
    if (!child.stdout) throw new Error('receiver stdout is not piped');
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  const base = `http://127.0.0.1:${port}`;
  const receiver: WebhookReceiver = {
    port,
    url: (path) => `${base}${path}`,
    async configure(path, config) {
      const res = await fetch(`${base}/_control/configure`, { method: 'POST', body: JSON.stringify({ path, ...config }) });
      if (res.status !== 204) throw new Error(`receiver configure answered ${res.status}`);
    },
    async received(path) {
      const res = await fetch(`${base}/_control/received${path ? `?path=${encodeURIComponent(path)}` : ''}`);
      return (await res.json()) as ReceivedRequest[];
    },
    async waitFor(path, count, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const got = await receiver.received(path);
        if (got.length >= count) return got;
        if (Date.now() > until) throw new Error(`receiver got ${got.length} of ${count} requests on ${path} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  return receiver;
}

if (process.env.FROSTBYTE_WEBHOOK_RECEIVER === '1') runReceiver();
