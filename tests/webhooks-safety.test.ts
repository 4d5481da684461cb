import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../shared/config/env';
import { nodeResolveHost } from '../shared/node/resolve-host';
import { nodeWebhookSender } from '../shared/node/webhook-sender';
import { checkDestination, type DestinationPolicy } from '../shared/webhooks/destination';
import { fetchWebhookSender } from '../shared/webhooks/fetch-sender';
import type { ResolveHost, WebhookSender } from '../shared/webhooks/ports';
import { startWebhookReceiver, type WebhookReceiver } from './doubles/webhook-receiver';
import { startRuntime, uniqueName, type TestRuntime } from './helpers/runtime';

/** SSRF rules for webhook destinations, and the senders' limits (no redirects, bounded time and body). */

const production: DestinationPolicy = { allowHttp: false, allowedHosts: [] };

/** DNS answers for names this suite pretends exist (DNS itself is outside what runs here). */
const fakeDns = (answers: Record<string, string[]>): ResolveHost => async (host) => {
  const a = answers[host];
  if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return a;
};

describe('webhook destination rules', () => {
  const dns = fakeDns({
    'hooks.vendor.example': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    'rebound.vendor.example': ['93.184.215.14', '10.0.0.7'],
    'metadata.vendor.example': ['169.254.169.254'],
    'v6private.vendor.example': ['fd12:3456::1'],
  });

  it.each([
    ['http://hooks.vendor.example/in', /Only https URLs/],
    ['ftp://hooks.vendor.example/in', /Only https URLs/],
    ['https://user:secret@hooks.vendor.example/in', /user name or password/],
    ['not a url', /not a valid absolute URL/],
    ['https://127.0.0.1/in', /loopback/],
    ['https://127.8.9.10/in', /loopback/],
    ['https://0x7f000001/in', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['https://[::1]/in', /loopback/],
    ['https://[::ffff:127.0.0.1]/in', /loopback/],
    ['https://10.1.2.3/in', /private/],
    ['https://172.16.0.1/in', /private/],
    ['https://172.31.255.254/in', /private/],
    ['https://192.168.1.20/in', /private/],
    ['https://[fc00::5]/in', /private \(fc00::\/7\)/],
    ['https://169.254.10.10/in', /link-local/],
    ['https://[fe80::1]/in', /link-local/],
    ['https://100.64.0.1/in', /carrier-grade NAT/],
    ['https://169.254.169.254/latest/meta-data', /cloud metadata/],
    ['https://[fd00:ec2::254]/latest/meta-data', /cloud metadata/],
    ['https://0.0.0.0/in', /unspecified/],
    ['https://224.0.0.1/in', /multicast/],
    ['https://[64:ff9b::a00:1]/in', /NAT64/],
    ['https://rebound.vendor.example/in', /resolves to 10\.0\.0\.7, not a public address \(private\)/],
    ['https://metadata.vendor.example/in', /resolves to 169\.254\.169\.254, not a public address \(cloud metadata\)/],
    ['https://v6private.vendor.example/in', /private \(fc00::\/7\)/],
    ['https://nowhere.vendor.example/in', /does not resolve \(ENOTFOUND\)/],
  ])('refuses %s', async (url, reason) => {
    await expect(checkDestination(url, production, dns)).rejects.toThrow(reason);
  });

  it('accepts public destinations and returns the vetted addresses to connect to', async () => {
    expect((await checkDestination('https://hooks.vendor.example/in', production, dns)).addresses).toEqual(['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c']);
    expect((await checkDestination('https://93.184.215.14:8443/in', production, dns)).addresses).toEqual(['93.184.215.14']);
  });

  it('lets allow-listed hosts through by exact name, http only when allowed', async () => {
    const dev: DestinationPolicy = { allowHttp: true, allowedHosts: ['127.0.0.1', '::1', 'receiver.internal'] };
    expect((await checkDestination('http://127.0.0.1:9000/in', dev, dns)).addresses).toBeNull();
    expect((await checkDestination('http://[::1]:9000/in', dev, dns)).addresses).toBeNull();
    // Allow-listed names are not resolved (nor refused when they do not resolve).
    expect((await checkDestination('http://receiver.internal/in', dev, dns)).addresses).toBeNull();
    // Other loopback addresses stay refused even with 127.0.0.1 listed.
    await expect(checkDestination('http://127.0.0.2/in', dev, dns)).rejects.toThrow(/loopback/);
    await expect(checkDestination('http://127.0.0.1:9000/in', { ...dev, allowHttp: false }, dns)).rejects.toThrow(/Only https/);
  });

  it('resolves names with node:dns, as the connection would (localhost → loopback)', async () => {
    expect(await nodeResolveHost('localhost')).toContain('127.0.0.1');
    await expect(checkDestination('https://localhost:8443/in', production, nodeResolveHost)).rejects.toThrow(/localhost resolves to .*loopback/);
    // Without a resolver (Workers) loopback names are still refused; other names are left to egress rules.
    await expect(checkDestination('https://localhost/in', production)).rejects.toThrow(/loopback name/);
    expect((await checkDestination('https://hooks.vendor.example/in', production)).addresses).toBeNull();
  });
});

describe('webhook settings', () => {
  it('parses the retry schedule and the allow-list, and names a bad key', () => {
    const env = loadEnv({ WEBHOOK_RETRY_SCHEDULE: '250ms, 5s,2m,1h,1d', WEBHOOK_ALLOWED_HOSTS: 'Receiver.Internal, 127.0.0.1,[::1]' });
    expect(env.WEBHOOK_RETRY_SCHEDULE).toEqual([250, 5_000, 120_000, 3_600_000, 86_400_000]);
    expect(env.WEBHOOK_ALLOWED_HOSTS).toEqual(['receiver.internal', '127.0.0.1', '::1']);
    const defaults = loadEnv({});
    expect(defaults).toMatchObject({ WEBHOOK_ALLOW_HTTP: false, WEBHOOK_ALLOWED_HOSTS: [], WEBHOOK_TIMEOUT_MS: 10_000 });
    expect(defaults.WEBHOOK_RETRY_SCHEDULE.reduce((a, b) => a + b, 0)).toBe(85 * 3_600_000 + 35 * 60_000 + 5_000);
    expect(() => loadEnv({ WEBHOOK_RETRY_SCHEDULE: '5 minutes' })).toThrow(ConfigError);
    expect(() => loadEnv({ WEBHOOK_RETRY_SCHEDULE: '5 minutes' })).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
  });
});

describe('webhook senders', () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => receiver?.stop());

  const request = (url: string, extra: { addresses?: string[]; timeoutMs?: number } = {}) => ({
    url, headers: { 'content-type': 'application/json' }, body: '{"type":"batch.completed"}', timeoutMs: extra.timeoutMs ?? 2_000, maxResponseBytes: 4096, addresses: extra.addresses,
  });

  describe.each<[string, () => WebhookSender]>([['node', nodeWebhookSender], ['fetch', () => fetchWebhookSender()]])('%s sender', (_name, make) => {
    it('does not follow a redirect', async () => {
      const path = `/${uniqueName('r')}`;
      await receiver.configure(path, { fallback: 'redirect' });
      const res = await make().send(request(receiver.url(path)));
      expect(res).toMatchObject({ statusCode: 302, error: null, location: `http://127.0.0.1:${receiver.port}/redirect-target` });
      expect(await receiver.received('/redirect-target')).toEqual([]);
    });

    it('gives up after the timeout', async () => {
      const path = `/${uniqueName('h')}`;
      await receiver.configure(path, { fallback: 'hang' });
      const res = await make().send(request(receiver.url(path), { timeoutMs: 300 }));
      expect(res).toMatchObject({ statusCode: null, error: 'timed out after 300 ms' });
      expect(res.latencyMs).toBeGreaterThanOrEqual(290);
      expect(res.latencyMs).toBeLessThan(2_000);
    });

    it('reads at most 4 KiB of the answer', async () => {
      const path = `/${uniqueName('b')}`;
      await receiver.configure(path, { fallback: 'big' });
      const res = await make().send(request(receiver.url(path)));
      expect(res.statusCode).toBe(200);
      expect(res.body).toHaveLength(4096);
    });

    it('reports a refused connection as an error without a status', async () => {
      const res = await make().send(request('http://127.0.0.1:1/in'));
      expect(res.statusCode).toBeNull();
      expect(res.error).toMatch(/ECONNREFUSED|fetch failed/);
    });
  });

  it('node sender connects only to the vetted addresses, never asking DNS again', async () => {
    const path = `/${uniqueName('pin')}`;
    const sender = nodeWebhookSender();
    // The name does not resolve at all; pinned to the vetted address the request still arrives.
    const pinned = await sender.send(request(`http://rebind.invalid:${receiver.port}${path}`, { addresses: ['127.0.0.1'] }));
    expect(pinned.statusCode).toBe(200);
    expect(await receiver.received(path)).toHaveLength(1);
    const unpinned = await sender.send(request(`http://rebind.invalid:${receiver.port}${path}`));
    expect(unpinned.error).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });
});

describe('webhook endpoints under production rules (https only, nothing allow-listed)', () => {
  let rt: TestRuntime;
  let tenant: string;
  let token: string;
  beforeAll(async () => {
    rt = await startRuntime('pglite');
    tenant = await rt.tenant('ssrf');
    token = await rt.token(tenant, ['ingest']);
  });
  afterAll(async () => rt?.close());

  const call = async (method: string, path: string, body: unknown) => {
    const res = await rt.app.request(`/api/v1/webhooks/${tenant}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };

  it.each([
    ['http://93.184.215.14/in', /Only https/],
    ['https://127.0.0.1:8443/in', /loopback/],
    ['https://localhost:8443/in', /localhost resolves to .*loopback/],
    ['https://[::1]/in', /loopback/],
    ['https://10.0.0.8/in', /private/],
    ['https://169.254.169.254/latest/meta-data', /cloud metadata/],
    ['https://[fd00:ec2::254]/', /cloud metadata/],
    ['https://100.100.0.1/in', /carrier-grade NAT/],
  ])('refuses to create an endpoint at %s', async (url, reason) => {
    const res = await call('POST', '/endpoints', { url, events: ['batch.completed'] });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors).toEqual([{ field: 'url', message: expect.stringMatching(reason) }]);
  });

  it('accepts a public https destination and refuses changing it to a private one', async () => {
    const created = await call('POST', '/endpoints', { url: 'https://93.184.215.14/frostbyte', events: ['batch.completed'] });
    expect(created.status).toBe(201);
    const patched = await call('PATCH', `/endpoints/${created.body.id}`, { url: 'https://192.168.10.4/frostbyte' });
    expect(patched.status).toBe(400);
    expect(patched.body.errors[0]).toMatchObject({ field: 'url', message: expect.stringMatching(/private/) });
  });
});
