import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listEvents } from '../shared/audit/queries';
import type { AuditEvent } from '../shared/audit/types';
import type { ManualClock } from '../shared/clock';
import { sweepControl } from '../shared/queue/sweeper';
import type { Services } from '../shared/services';
import type { CloudProvider } from '../shared/tenants/cloud/cloud-provider';
import { createHetznerCloudProvider } from '../shared/tenants/cloud/hetzner';
import type { TenantStatusView } from '../shared/tenants/lifecycle';
import type { HetznerDouble } from './doubles/hetzner/hetzner-double';

/** Shared pieces of the tenant lifecycle suites (tests/tenants-*.test.ts). */

export interface OwnerReceiver {
  url: string;
  received: Record<string, unknown>[];
  /** Answer the next `n` notifications with HTTP 500. */
  failNext(n: number): void;
  close(): Promise<void>;
}

/** The platform owner's notification endpoint: a real HTTP server that keeps what it was sent. */
export async function startOwnerReceiver(): Promise<OwnerReceiver> {
  const received: Record<string, unknown>[] = [];
  let failing = 0;
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (data += d));
      req.on('end', () => resolve(data));
      req.on('error', reject);
    });
  const server: Server = createServer((req, res) => {
    void read(req).then((text) => {
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/json') {
        res.writeHead(400).end();
        return;
      }
      if (failing > 0) {
        failing--;
        res.writeHead(500).end('try later');
        return;
      }
      received.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/frostbyte`,
    received,
    failNext: (n) => (failing = n),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The Hetzner driver against the double with waits that move a ManualClock instead of the wall:
 * retries, rate-limit waits and action polls take microseconds.
 */
export function fastHetzner(double: HetznerDouble, clock: ManualClock, opts: { actionTimeoutMs?: number; dnsZone?: string } = {}): CloudProvider {
  return createHetznerCloudProvider({
    token: double.token,
    baseUrl: double.url,
    clock,
    sleep: async (ms) => clock.advance(ms),
    random: () => 1,
    actionTimeoutMs: opts.actionTimeoutMs ?? 60_000,
    dnsZone: opts.dnsZone,
  });
}

/** A loopback port nothing listens on: requests to it are refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type Requester = { request(input: string, init?: RequestInit): Response | Promise<Response> };

/** JSON over the real routes with a bearer token. */
export function jsonApi(app: Requester, token: () => string) {
  return async (method: string, path: string, body?: unknown, as?: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${as ?? token()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

/**
 * Relays the control outbox (each pass delivers what is due: one step per run) until `done`.
 * With a ManualClock as the runtime's clock, an idle pass moves it up to the wall clock, so
 * retry delays come due and step signatures stay valid.
 */
export async function drive(services: Services, done: () => Promise<boolean>, opts: { clock?: ManualClock; maxPasses?: number } = {}): Promise<void> {
  for (let i = 0; i < (opts.maxPasses ?? 500); i++) {
    if (await done()) return;
    const r = await sweepControl(services);
    if (!r.sent && !r.retried && !r.dead) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (opts.clock && opts.clock.now().getTime() < Date.now()) opts.clock.set(new Date());
    }
  }
  throw new Error('the run did not settle');
}

export async function eventsOf(services: Services, tenantId: string): Promise<AuditEvent[]> {
  return (await listEvents(services.control, tenantId, { limit: 1000 })).events;
}

export const stepOf = (s: TenantStatusView, name: string) => {
  const step = s.steps.find((x) => x.name === name);
  if (!step) throw new Error(`no step ${name}`);
  return step;
};
