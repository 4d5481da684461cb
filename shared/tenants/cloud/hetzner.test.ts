import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../clock';
import { startHetznerDouble, type HetznerDouble } from '../../../tests/doubles/hetzner/hetzner-double';
import {
  CloudActionTimeoutError,
  CloudProviderError,
  tenantResourceNames,
  tenantSelector,
  type CloudProvider,
  type FirewallRule,
} from './cloud-provider';
import { createHetznerCloudProvider, type HetznerCloudOptions } from './hetzner';

const doubles: HetznerDouble[] = [];
afterEach(async () => {
  await Promise.all(doubles.splice(0).map((d) => d.close()));
});

let tenantCounter = 0;
/** Each test provisions its own tenant, so tests can run in any order. */
const newTenant = () => `t${Date.now().toString(36)}${(tenantCounter++).toString(36)}`;

async function setup(overrides: Partial<HetznerCloudOptions> = {}) {
  const clock = new ManualClock(new Date('2026-01-01T00:00:00.000Z'));
  const double = await startHetznerDouble({ clock, actionPolls: 2, zones: ['example.com', { name: 'secondary.example', mode: 'secondary' }] });
  doubles.push(double);
  const sleeps: number[] = [];
  const provider = createHetznerCloudProvider({
    token: double.token,
    baseUrl: double.url,
    clock,
    // Waits move the clock instead of the wall: retries and polls run in microseconds.
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
    random: () => 1,
    actionTimeoutMs: 60_000,
    ...overrides,
  });
  /** Reads the double's API like any client would. */
  const api = async (path: string): Promise<Record<string, unknown>> => {
    const res = await fetch(`${double.url}${path}`, { headers: { authorization: `Bearer ${double.token}` } });
    return (await res.json()) as Record<string, unknown>;
  };
  return { clock, double, provider, sleeps, api };
}

const RULES: FirewallRule[] = [
  { direction: 'in', protocol: 'tcp', port: '443', sourceIps: ['198.51.100.10/32'], description: 'api gateway' },
  { direction: 'in', protocol: 'tcp', port: '22', sourceIps: ['198.51.100.20/32'] },
  { direction: 'out', protocol: 'udp', port: '53', destinationIps: ['185.12.64.1/32', '185.12.64.2/32'] },
];
const USER_DATA = '#cloud-config\nruncmd:\n  - [touch, /root/frostbyte-ready]\n';

async function provisionAll(provider: CloudProvider, tenantId: string) {
  const names = tenantResourceNames(tenantId);
  const network = await provider.findOrCreateNetwork({ tenantId, name: names.network, ipRange: '10.42.0.0/16', subnetIpRange: '10.42.1.0/24', networkZone: 'eu-central' });
  const firewall = await provider.findOrCreateFirewall({ tenantId, name: names.firewall, rules: RULES });
  const server = await provider.findOrCreateServer({
    tenantId,
    name: names.server('gateway'),
    labels: { role: 'gateway' },
    serverType: 'cx22',
    image: 'ubuntu-22.04',
    location: 'nbg1',
    userData: USER_DATA,
    networkId: network.id,
    firewallId: firewall.id,
  });
  const volume = await provider.findOrCreateVolume({ tenantId, name: names.volume, sizeGb: 100, location: 'nbg1', format: 'ext4' });
  await provider.attachVolume(volume.id, server.id, { automount: true });
  return { network, firewall, server, volume };
}

async function rejection(promise: Promise<unknown>): Promise<CloudProviderError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CloudProviderError) return err;
    throw err;
  }
  throw new Error('expected the promise to reject');
}

describe('Hetzner Cloud driver against the API double', () => {
  it('creates a network, firewall, server with cloud-init and an attached volume, all labelled for the tenant', async () => {
    const { provider, double, api } = await setup();
    const tenantId = newTenant();
    const made = await provisionAll(provider, tenantId);

    for (const r of Object.values(made)) {
      expect(r.created).toBe(true);
      expect(r.id).toMatch(/^\d+$/);
    }
    expect(made.server.privateIp).toMatch(/^10\.42\.1\.\d+$/);
    expect(made.server.publicIpv4).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const existing = double.list(tenantSelector(tenantId));
    expect(existing.map((r) => r.kind).sort()).toEqual(['firewall', 'network', 'server', 'volume']);
    for (const r of existing) expect(r.labels).toMatchObject({ tenant_id: tenantId, managed_by: 'frostbyte' });
    expect(existing.find((r) => r.kind === 'server')?.labels.role).toBe('gateway');

    const { server } = (await api(`/servers/${made.server.id}`)) as { server: { status: string; private_net: { network: number }[]; public_net: { firewalls: { id: number }[] }; volumes: number[] } };
    expect(server.status).toBe('running');
    expect(server.private_net.map((n) => n.network)).toEqual([Number(made.network.id)]);
    expect(server.public_net.firewalls.map((f) => f.id)).toEqual([Number(made.firewall.id)]);
    expect(server.volumes).toEqual([Number(made.volume.id)]);

    const { network } = (await api(`/networks/${made.network.id}`)) as { network: { ip_range: string; subnets: { type: string; ip_range: string; network_zone: string }[] } };
    expect(network.ip_range).toBe('10.42.0.0/16');
    expect(network.subnets).toMatchObject([{ type: 'cloud', ip_range: '10.42.1.0/24', network_zone: 'eu-central' }]);

    const { firewall } = (await api(`/firewalls/${made.firewall.id}`)) as { firewall: { rules: unknown[] } };
    expect(firewall.rules).toEqual([
      { direction: 'in', protocol: 'tcp', port: '443', source_ips: ['198.51.100.10/32'], destination_ips: [], description: 'api gateway' },
      { direction: 'in', protocol: 'tcp', port: '22', source_ips: ['198.51.100.20/32'], destination_ips: [], description: null },
      { direction: 'out', protocol: 'udp', port: '53', source_ips: [], destination_ips: ['185.12.64.1/32', '185.12.64.2/32'], description: null },
    ]);

    const { volume } = (await api(`/volumes/${made.volume.id}`)) as { volume: { size: number; format: string; server: number; status: string } };
    expect(volume).toMatchObject({ size: 100, format: 'ext4', server: Number(made.server.id), status: 'available' });

    // cloud-init reached the API as documented: user_data plus the network and firewall ids.
    const createServer = double.requests.find((r) => r.method === 'POST' && r.route === '/servers');
    expect(createServer?.body).toMatchObject({ user_data: USER_DATA, networks: [Number(made.network.id)], firewalls: [{ firewall: Number(made.firewall.id) }], start_after_create: true });
  });

  it('adopts what an earlier run made instead of creating a second one', async () => {
    const { provider, double } = await setup();
    const tenantId = newTenant();
    const first = await provisionAll(provider, tenantId);
    const second = await provisionAll(provider, tenantId);

    for (const key of ['network', 'firewall', 'server', 'volume'] as const) {
      expect(second[key].created).toBe(false);
      expect(second[key].id).toBe(first[key].id);
    }
    expect(second.server.privateIp).toBe(first.server.privateIp);
    expect(double.list(tenantSelector(tenantId))).toHaveLength(4);
  });

  it('adopts the resource on uniqueness_error when the create reply was lost', async () => {
    const { provider, double } = await setup();
    const tenantId = newTenant();
    const names = tenantResourceNames(tenantId);
    // The network is made, but the answer never arrives: the retried POST meets uniqueness_error.
    double.failNth({ method: 'POST', route: '/networks', status: 502, code: 'server_error', afterCommit: true });
    const network = await provider.findOrCreateNetwork({ tenantId, name: names.network, ipRange: '10.7.0.0/16', subnetIpRange: '10.7.1.0/24', networkZone: 'eu-central' });

    const networks = double.list(tenantSelector(tenantId));
    expect(networks).toHaveLength(1);
    expect(String(networks[0].id)).toBe(network.id);
    expect(double.requests.filter((r) => r.method === 'POST' && r.route === '/networks').map((r) => r.status)).toEqual([502, 409]);

    // Same for a server: the adopted server is read back once its actions are done.
    const firewall = await provider.findOrCreateFirewall({ tenantId, name: names.firewall, rules: RULES });
    double.failNth({ method: 'POST', route: '/servers', status: 504, code: 'timeout', afterCommit: true });
    const server = await provider.findOrCreateServer({
      tenantId,
      name: names.server('worker'),
      serverType: 'cx22',
      image: 'ubuntu-22.04',
      location: 'nbg1',
      userData: USER_DATA,
      networkId: network.id,
      firewallId: firewall.id,
    });
    expect(server.created).toBe(false);
    expect(server.privateIp).toMatch(/^10\.7\.1\.\d+$/);
    expect(double.list(tenantSelector(tenantId)).filter((r) => r.kind === 'server')).toHaveLength(1);
  });

  it('refuses to adopt a resource with the same name that is not labelled for the tenant', async () => {
    const { provider, double } = await setup();
    const tenantId = newTenant();
    const name = tenantResourceNames(tenantId).network;
    const res = await fetch(`${double.url}/networks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${double.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, ip_range: '10.9.0.0/16', labels: { tenant_id: 'someoneelse', managed_by: 'frostbyte' } }),
    });
    expect(res.status).toBe(201);

    const err = await rejection(provider.findOrCreateNetwork({ tenantId, name, ipRange: '10.9.0.0/16', subnetIpRange: '10.9.1.0/24', networkZone: 'eu-central' }));
    expect(err.code).toBe('name_taken');
    expect(err.retryable).toBe(false);
    expect(double.list(tenantSelector(tenantId))).toEqual([]);
  });

  it("lists every kind by label selector across pages, and only that tenant's", async () => {
    const { provider, double } = await setup();
    const tenantA = newTenant();
    const tenantB = newTenant();
    const a = await provisionAll(provider, tenantA);
    await provisionAll(provider, tenantB);
    // 60 more networks for tenant A: more than one page of 50.
    for (let i = 0; i < 60; i++) {
      await provider.findOrCreateNetwork({ tenantId: tenantA, name: `tenant-${tenantA}-extra-${i}`, ipRange: `10.${100 + (i % 100)}.0.0/16`, subnetIpRange: `10.${100 + (i % 100)}.1.0/24`, networkZone: 'eu-central' });
    }

    const listed = await provider.listResources(tenantSelector(tenantA));
    expect(listed).toHaveLength(64);
    expect(listed.every((r) => r.labels.tenant_id === tenantA)).toBe(true);
    expect(listed.filter((r) => r.kind === 'network')).toHaveLength(61);
    expect(listed.find((r) => r.kind === 'server')).toMatchObject({ id: a.server.id, name: tenantResourceNames(tenantA).server('gateway'), status: 'running' });
    expect(listed.find((r) => r.kind === 'volume')).toMatchObject({ id: a.volume.id });
    expect(double.requests.some((r) => r.route === '/networks' && r.query.page === '2')).toBe(true);

    expect(await provider.listResources('tenant_id=nobody')).toEqual([]);
  });

  it('deletes in reverse order and leaves nothing; deleting what is gone succeeds', async () => {
    const { provider, double } = await setup();
    const tenantId = newTenant();
    const made = await provisionAll(provider, tenantId);

    // Reverse of creation: the volume is still attached, so it is detached first.
    await provider.deleteVolume(made.volume.id);
    await provider.deleteServer(made.server.id);
    await provider.deleteFirewall(made.firewall.id);
    await provider.deleteNetwork(made.network.id);

    expect(double.list(tenantSelector(tenantId))).toEqual([]);
    expect(await provider.listResources(tenantSelector(tenantId))).toEqual([]);

    await provider.deleteVolume(made.volume.id);
    await provider.deleteServer(made.server.id);
    await provider.deleteFirewall(made.firewall.id);
    await provider.deleteNetwork(made.network.id);
  });

  it('waits for RateLimit-Reset after a 429 and then succeeds', async () => {
    const { provider, double, sleeps } = await setup();
    const tenantId = newTenant();
    double.rateLimitNth({ method: 'GET', route: '/networks', nth: 1, resetInSeconds: 3 });
    const network = await provider.findOrCreateNetwork({ tenantId, name: tenantResourceNames(tenantId).network, ipRange: '10.3.0.0/16', subnetIpRange: '10.3.1.0/24', networkZone: 'eu-central' });

    expect(network.created).toBe(true);
    // The clock stands on a whole second, so the wait is exactly the three seconds to the reset.
    expect(sleeps[0]).toBe(3000);
    expect(double.requests.filter((r) => r.route === '/networks').map((r) => `${r.method} ${r.status}`)).toEqual(['GET 429', 'GET 200', 'POST 201']);
  });

  it('retries server errors with backoff and creates exactly one resource', async () => {
    const { provider, double, sleeps } = await setup({ backoffBaseMs: 100 });
    const tenantId = newTenant();
    double.failNth({ method: 'POST', route: '/firewalls', status: 503, code: 'server_error', times: 2 });
    const firewall = await provider.findOrCreateFirewall({ tenantId, name: tenantResourceNames(tenantId).firewall, rules: RULES });

    expect(firewall.created).toBe(true);
    expect(double.list(tenantSelector(tenantId))).toHaveLength(1);
    expect(double.requests.filter((r) => r.method === 'POST' && r.route === '/firewalls').map((r) => r.status)).toEqual([503, 503, 201]);
    expect(sleeps.slice(0, 2)).toEqual([100, 200]);
  });

  it('gives up after the configured attempts with a retryable error', async () => {
    const { provider, double } = await setup({ maxAttempts: 3, backoffBaseMs: 10 });
    double.failNth({ method: 'GET', route: '/servers', status: 500, code: 'server_error', times: 10 });
    const err = await rejection(provider.listResources('tenant_id=x'));
    expect(err).toMatchObject({ code: 'server_error', status: 500, retryable: true });
    expect(double.requests.filter((r) => r.route === '/servers')).toHaveLength(3);
  });

  it('reports an action past its deadline as a typed, retryable timeout; a later run adopts the server', async () => {
    const { provider, double, clock } = await setup({ actionTimeoutMs: 30_000 });
    const tenantId = newTenant();
    const names = tenantResourceNames(tenantId);
    const network = await provider.findOrCreateNetwork({ tenantId, name: names.network, ipRange: '10.5.0.0/16', subnetIpRange: '10.5.1.0/24', networkZone: 'eu-central' });
    const firewall = await provider.findOrCreateFirewall({ tenantId, name: names.firewall, rules: RULES });
    const spec = { tenantId, name: names.server('db'), serverType: 'cx32', image: 'ubuntu-22.04', location: 'nbg1', userData: USER_DATA, networkId: network.id, firewallId: firewall.id };

    double.stallActions('create_server');
    const started = clock.now().getTime();
    const err = await rejection(provider.findOrCreateServer(spec));
    expect(err).toBeInstanceOf(CloudActionTimeoutError);
    expect(err).toMatchObject({ code: 'action_timeout', retryable: true, command: 'create_server' });
    expect(clock.now().getTime() - started).toBeGreaterThanOrEqual(30_000);

    double.clearFaults();
    const server = await provider.findOrCreateServer(spec);
    expect(server.created).toBe(false);
    expect(double.list(tenantSelector(tenantId)).filter((r) => r.kind === 'server')).toHaveLength(1);
  });

  it('reports a failed action with its error code, not retryable', async () => {
    const { provider, double } = await setup();
    const tenantId = newTenant();
    double.failActions('create_volume', { code: 'no_space_left_in_location', message: 'There is no volume space left in the given location' });
    const err = await rejection(provider.findOrCreateVolume({ tenantId, name: tenantResourceNames(tenantId).volume, sizeGb: 10, location: 'fsn1' }));
    expect(err).toMatchObject({ code: 'no_space_left_in_location', retryable: false });
  });

  it('treats invalid_input as permanent and passes on the field details', async () => {
    const { provider, double } = await setup();
    const tenantId = newTenant();
    const err = await rejection(
      provider.findOrCreateNetwork({ tenantId, name: tenantResourceNames(tenantId).network, ipRange: '8.8.0.0/16', subnetIpRange: '8.8.1.0/24', networkZone: 'eu-central' }),
    );
    expect(err).toMatchObject({ code: 'invalid_input', status: 400, retryable: false });
    expect(err.details).toMatchObject({ fields: [{ name: 'ip_range' }] });
    expect(double.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it('answers 401 unauthorized when the token is missing or wrong', async () => {
    const { double } = await setup();
    for (const token of ['', 'not-the-token']) {
      const provider = createHetznerCloudProvider({ token, baseUrl: double.url, sleep: async () => {} });
      const err = await rejection(provider.listResources('tenant_id=x'));
      expect(err).toMatchObject({ code: 'unauthorized', status: 401, retryable: false });
    }
  });

  it('attaching an attached volume again is success; to another server it is refused', async () => {
    const { provider } = await setup();
    const tenantId = newTenant();
    const made = await provisionAll(provider, tenantId);
    await provider.attachVolume(made.volume.id, made.server.id);

    const other = await provider.findOrCreateServer({
      tenantId,
      name: tenantResourceNames(tenantId).server('worker'),
      serverType: 'cx22',
      image: 'ubuntu-22.04',
      location: 'nbg1',
      userData: USER_DATA,
      networkId: made.network.id,
      firewallId: made.firewall.id,
    });
    const err = await rejection(provider.attachVolume(made.volume.id, other.id));
    expect(err).toMatchObject({ code: 'volume_already_attached', retryable: false });
  });

  describe('DNS records', () => {
    const dns = (tenantId: string, ipv4 = '203.0.113.7') => ({ tenantId, host: `${tenantId}.pipeline.example.com`, ipv4, ttlSeconds: 300 });

    it('points the tenant host at an address, labelled; adopts and corrects it on a second run; lists and deletes it', async () => {
      const { provider, double, api } = await setup({ dnsZone: 'example.com' });
      const tenantId = newTenant();
      const made = await provider.findOrCreateDnsRecord(dns(tenantId));
      expect(made).toEqual({ id: `${tenantId}.pipeline/A`, name: `${tenantId}.pipeline.example.com`, created: true });
      const post = double.requests.find((r) => r.method === 'POST' && r.route === '/zones/{id_or_name}/rrsets');
      expect(post?.body).toEqual({ name: `${tenantId}.pipeline`, type: 'A', ttl: 300, labels: { tenant_id: tenantId, managed_by: 'frostbyte' }, records: [{ value: '203.0.113.7' }] });
      // The create action was polled to success before the step was told "done".
      expect(double.requests.some((r) => r.route === '/actions/{id}')).toBe(true);

      const again = await provider.findOrCreateDnsRecord(dns(tenantId));
      expect(again).toMatchObject({ id: made.id, created: false });
      expect(double.requests.filter((r) => r.route.endsWith('/set_records'))).toHaveLength(0);
      // The server was replaced: the adopted record follows the new address.
      await provider.findOrCreateDnsRecord(dns(tenantId, '203.0.113.99'));
      const rrset = (await api(`/zones/example.com/rrsets/${tenantId}.pipeline/A`)).rrset as { records: unknown };
      expect(rrset.records).toEqual([{ value: '203.0.113.99', comment: null }]);

      expect(await provider.listResources(tenantSelector(tenantId))).toEqual([
        { kind: 'dns_record', id: made.id, name: `${tenantId}.pipeline.example.com`, labels: { tenant_id: tenantId, managed_by: 'frostbyte' } },
      ]);
      await provider.deleteDnsRecord(made.id);
      expect(double.list(tenantSelector(tenantId))).toEqual([]);
      await provider.deleteDnsRecord(made.id);
    });

    it('adopts the record when the create reply was lost, and refuses one not labelled for the tenant', async () => {
      const { provider, double } = await setup({ dnsZone: 'example.com' });
      const tenantId = newTenant();
      double.failNth({ method: 'POST', route: '/zones/{id_or_name}/rrsets', status: 502, code: 'server_error', afterCommit: true });
      const made = await provider.findOrCreateDnsRecord(dns(tenantId));
      expect(made.created).toBe(false);
      expect(double.requests.filter((r) => r.method === 'POST' && r.route === '/zones/{id_or_name}/rrsets').map((r) => r.status)).toEqual([502, 409]);
      expect(double.list(tenantSelector(tenantId))).toHaveLength(1);

      const other = newTenant();
      await fetch(`${double.url}/zones/example.com/rrsets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${double.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `${other}.pipeline`, type: 'A', records: [{ value: '198.51.100.1' }] }),
      });
      const taken = await rejection(provider.findOrCreateDnsRecord(dns(other)));
      expect(taken).toMatchObject({ code: 'name_taken', retryable: false });

      const outside = await rejection(provider.findOrCreateDnsRecord({ ...dns(other), host: `${other}.elsewhere.test` }));
      expect(outside).toMatchObject({ code: 'invalid_input', retryable: false });
    });

    it('a zone in secondary mode is a permanent error; without a zone there is no DNS', async () => {
      const secondary = await setup({ dnsZone: 'secondary.example' });
      const tenantId = newTenant();
      const err = await rejection(secondary.provider.findOrCreateDnsRecord({ ...dns(tenantId), host: `${tenantId}.secondary.example` }));
      expect(err).toMatchObject({ code: 'incorrect_zone_mode', status: 422, retryable: false });

      const none = await setup();
      expect(none.provider.dnsZone).toBeUndefined();
      expect(await rejection(none.provider.findOrCreateDnsRecord(dns(tenantId)))).toMatchObject({ code: 'dns_not_configured', retryable: false });
      await none.provider.listResources(tenantSelector(tenantId));
      expect(none.double.requests.some((r) => r.path.startsWith('/zones'))).toBe(false);
    });
  });
});
