import { afterEach, describe, expect, it } from 'vitest';
import { startHetznerDouble, type HetznerDouble } from './hetzner-double';

/**
 * The double is a boundary other suites trust, so its documented behaviour is checked here
 * over plain HTTP: shapes, validation, label selectors, pagination, errors and faults.
 */
const doubles: HetznerDouble[] = [];

/** Reads a value deep inside a JSON answer: `at(body, 'error', 'code')`. */
function at(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys) current = current == null ? undefined : (current as Record<string | number, unknown>)[key];
  return current;
}
const commands = (actions: unknown) => (actions as { command: string }[]).map((a) => a.command);
afterEach(async () => {
  await Promise.all(doubles.splice(0).map((d) => d.close()));
});

async function setup() {
  const double = await startHetznerDouble({ actionPolls: 1, zones: ['example.com', { name: 'secondary.example', mode: 'secondary' }] });
  doubles.push(double);
  const call = async (method: string, path: string, body?: unknown, token: string | null = double.token) => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${double.url}${path}`, { method, headers, body: typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as unknown };
  };
  return { double, call };
}

describe('Hetzner Cloud API double', () => {
  it('requires the bearer token and answers unauthorized in the documented error shape', async () => {
    const { call } = await setup();
    for (const token of [null, 'wrong']) {
      const res = await call('GET', '/servers', undefined, token);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String), details: null } });
    }
  });

  it('validates create bodies and answers invalid_input with per-field details', async () => {
    const { call } = await setup();
    const net = await call('POST', '/networks', { name: 'n', ip_range: '10.0.0.0/8', subnets: [{ type: 'cloud', network_zone: 'eu-central', ip_range: '10.1.0.0/24' }] });
    expect(net.status).toBe(201);

    const cases: [string, unknown, string][] = [
      ['/networks', { ip_range: '10.0.0.0/16' }, 'name'],
      ['/networks', { name: 'x', ip_range: '10.0.0.0/25' }, 'ip_range'],
      ['/networks', { name: 'x', ip_range: '10.0.0.0/16', subnets: [{ type: 'cloud' }] }, 'subnets[0].network_zone'],
      ['/networks', { name: 'x', ip_range: '10.0.0.0/16', labels: { 'hetzner.cloud/x': 'y' } }, 'labels'],
      ['/firewalls', { name: 'f', rules: [{ direction: 'in', protocol: 'tcp', source_ips: ['0.0.0.0/0'] }] }, 'rules[0].port'],
      ['/firewalls', { name: 'f', rules: [{ direction: 'sideways', protocol: 'icmp', source_ips: ['0.0.0.0/0'] }] }, 'rules[0].direction'],
      ['/servers', { name: 'not_a_hostname', server_type: 'cx22', image: 'ubuntu-22.04' }, 'name'],
      ['/servers', { name: 's1', image: 'ubuntu-22.04' }, 'server_type'],
      ['/servers', { name: 's1', server_type: 'cx22', image: 'ubuntu-22.04', user_data: 'x'.repeat(32 * 1024 + 1) }, 'user_data'],
      ['/servers', { name: 's1', server_type: 'cx22', image: 'ubuntu-22.04', networks: ['1'] }, 'networks[0]'],
      ['/servers', { name: 's1', server_type: 'cx22', image: 'ubuntu-22.04', location: 'nbg1', datacenter: 'nbg1-dc3' }, 'location'],
      ['/volumes', { name: 'v', size: 5, location: 'nbg1' }, 'size'],
      ['/volumes', { name: 'v', size: 10 }, 'location'],
      ['/volumes', { name: 'v', size: '10', location: 'nbg1' }, 'size'],
      ['/volumes', { name: 'v', size: 10, location: 'nbg1', automount: true }, 'automount'],
    ];
    for (const [path, body, field] of cases) {
      const res = await call('POST', path, body);
      expect(res.status, `${path} ${JSON.stringify(body).slice(0, 80)}`).toBe(400);
      expect(at(res.body, 'error', 'code')).toBe('invalid_input');
      expect((at(res.body, 'error', 'details', 'fields') as { name: string }[]).map((f) => f.name)).toContain(field);
    }

    const broken = await call('POST', '/networks', '{"name": ');
    expect(at(broken.body, 'error', 'code')).toBe('json_error');
  });

  it('answers uniqueness_error for a name already used, with the documented details', async () => {
    const { call } = await setup();
    expect((await call('POST', '/volumes', { name: 'data', size: 10, location: 'fsn1' })).status).toBe(201);
    const again = await call('POST', '/volumes', { name: 'data', size: 10, location: 'fsn1' });
    expect(again.status).toBe(409);
    expect(at(again.body, 'error')).toMatchObject({ code: 'uniqueness_error', details: { fields: [{ name: 'name' }] } });
  });

  it('filters by label selector and paginates with meta.pagination', async () => {
    const { call } = await setup();
    for (let i = 0; i < 30; i++) {
      await call('POST', '/networks', { name: `n${i}`, ip_range: '10.0.0.0/16', labels: { tenant_id: i % 2 ? 'a' : 'b', ...(i < 3 ? { tier: 'gold' } : {}) } });
    }
    const page1 = await call('GET', '/networks?label_selector=tenant_id%3Da&per_page=10');
    expect(at(page1.body, 'networks')).toHaveLength(10);
    expect(at(page1.body, 'meta', 'pagination')).toEqual({ page: 1, per_page: 10, previous_page: null, next_page: 2, last_page: 2, total_entries: 15 });
    const page2 = await call('GET', '/networks?label_selector=tenant_id%3Da&per_page=10&page=2');
    expect(at(page2.body, 'networks')).toHaveLength(5);
    expect(at(page2.body, 'meta', 'pagination', 'next_page')).toBeNull();

    const count = async (selector: string) => at((await call('GET', `/networks?per_page=50&label_selector=${encodeURIComponent(selector)}`)).body, 'networks', 'length');
    expect(await count('tenant_id in (a,b)')).toBe(30);
    expect(await count('tenant_id notin (a)')).toBe(15);
    expect(await count('tier')).toBe(3);
    expect(await count('!tier')).toBe(27);
    expect(await count('tenant_id==b,tier!=gold')).toBe(13);
    expect(at((await call('GET', '/networks?label_selector=tenant_id%20in%20(a')).body, 'error', 'code')).toBe('invalid_input');
    expect(at((await call('GET', '/networks?per_page=51')).body, 'error', 'code')).toBe('invalid_input');
  });

  it('runs actions from running to success and refuses to delete what is in use', async () => {
    const { call, double } = await setup();
    const net = await call('POST', '/networks', { name: 'n', ip_range: '10.0.0.0/16', subnets: [{ type: 'cloud', network_zone: 'eu-central', ip_range: '10.0.1.0/24' }] });
    const fw = await call('POST', '/firewalls', { name: 'fw', rules: [{ direction: 'in', protocol: 'icmp', source_ips: ['0.0.0.0/0', '::/0'] }] });
    const created = await call('POST', '/servers', {
      name: 's1',
      server_type: 'cx22',
      image: 'ubuntu-22.04',
      location: 'nbg1',
      networks: [at(net.body, 'network', 'id')],
      firewalls: [{ firewall: at(fw.body, 'firewall', 'id') }],
    });
    expect(created.status).toBe(201);
    expect(at(created.body, 'action')).toMatchObject({ command: 'create_server', status: 'running', finished: null, error: null });
    expect(commands(at(created.body, 'next_actions'))).toEqual(['start_server', 'attach_to_network']);
    expect(at(created.body, 'server', 'private_net', 0)).toMatchObject({ network: at(net.body, 'network', 'id'), ip: '10.0.1.2' });

    const polled = await call('GET', `/actions/${at(created.body, 'action', 'id')}`);
    expect(at(polled.body, 'action')).toMatchObject({ status: 'success', progress: 100 });
    await call('GET', `/actions/${at(created.body, 'next_actions', 0, 'id')}`);
    expect(at((await call('GET', `/servers/${at(created.body, 'server', 'id')}`)).body, 'server', 'status')).toBe('running');

    const inUse = await call('DELETE', `/firewalls/${at(fw.body, 'firewall', 'id')}`);
    expect(inUse.status).toBe(409);
    expect(at(inUse.body, 'error', 'code')).toBe('resource_in_use');

    const vol = await call('POST', '/volumes', { name: 'v', size: 10, server: at(created.body, 'server', 'id'), automount: true });
    expect(commands(at(vol.body, 'next_actions'))).toEqual(['attach_volume']);
    const attached = await call('DELETE', `/volumes/${at(vol.body, 'volume', 'id')}`);
    expect(at(attached.body, 'error', 'code')).toBe('service_error');

    const deleted = await call('DELETE', `/servers/${at(created.body, 'server', 'id')}`);
    expect(deleted.status).toBe(200);
    expect(at(deleted.body, 'action', 'command')).toBe('delete_server');
    expect((await call('DELETE', `/volumes/${at(vol.body, 'volume', 'id')}`)).status).toBe(204);
    expect((await call('DELETE', `/firewalls/${at(fw.body, 'firewall', 'id')}`)).status).toBe(204);
    expect((await call('DELETE', `/networks/${at(net.body, 'network', 'id')}`)).status).toBe(204);
    expect(at((await call('DELETE', `/networks/${at(net.body, 'network', 'id')}`)).body, 'error', 'code')).toBe('not_found');
    expect(double.list()).toEqual([]);
  });

  it('injects faults on the nth call of a route, including 429 with rate-limit headers', async () => {
    const { call, double } = await setup();
    double.failNth({ method: 'GET', route: '/volumes/{id}', nth: 2, status: 503, code: 'server_error' });
    double.rateLimitNth({ method: 'GET', route: '/servers', resetInSeconds: 5 });
    const vol = await call('POST', '/volumes', { name: 'v', size: 10, location: 'fsn1' });
    const path = `/volumes/${at(vol.body, 'volume', 'id')}`;
    expect((await call('GET', path)).status).toBe(200);
    expect((await call('GET', path)).status).toBe(503);
    expect((await call('GET', path)).status).toBe(200);

    const limited = await call('GET', '/servers');
    expect(limited.status).toBe(429);
    expect(at(limited.body, 'error', 'code')).toBe('rate_limit_exceeded');
    expect(limited.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(limited.headers.get('ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect((await call('GET', '/servers')).status).toBe(200);
  });

  it('DNS: RRSets in a primary zone by ID or name, with labels, validation, actions and documented errors', async () => {
    const { call, double } = await setup();
    const zones = await call('GET', '/zones?name=example.com');
    const zoneId = at(zones.body, 'zones', 0, 'id');
    expect(at(zones.body, 'zones', 0)).toMatchObject({ name: 'example.com', mode: 'primary', status: 'ok' });
    expect(at((await call('GET', `/zones/${zoneId}`)).body, 'zone', 'name')).toBe('example.com');

    const record = { name: 'acme.pipeline', type: 'A', ttl: 300, labels: { tenant_id: 'acme' }, records: [{ value: '203.0.113.7' }] };
    const created = await call('POST', '/zones/example.com/rrsets', record);
    expect(created.status).toBe(201);
    expect(at(created.body, 'rrset')).toEqual({
      id: 'acme.pipeline/A', name: 'acme.pipeline', type: 'A', ttl: 300, labels: { tenant_id: 'acme' }, protection: { change: false },
      records: [{ value: '203.0.113.7', comment: null }], zone: zoneId,
    });
    expect(at(created.body, 'action', 'command')).toBe('create_rrset');
    // The same RRSet by zone ID; a second create of the name and type is refused.
    expect(at((await call('GET', `/zones/${zoneId}/rrsets/acme.pipeline/A`)).body, 'rrset', 'id')).toBe('acme.pipeline/A');
    expect(at((await call('POST', '/zones/example.com/rrsets', record)).body, 'error', 'code')).toBe('uniqueness_error');
    expect(at((await call('GET', '/zones/example.com/rrsets?label_selector=tenant_id%3Dacme&type=A')).body, 'rrsets', 'length')).toBe(1);
    expect(at((await call('GET', '/zones/example.com/rrsets?type=TXT')).body, 'rrsets', 'length')).toBe(0);
    expect(double.list('tenant_id=acme')).toEqual([{ kind: 'rrset', id: 'acme.pipeline/A', name: 'acme.pipeline', labels: { tenant_id: 'acme' } }]);
    expect(double.requests.at(-1)?.route).toBe('/zones/{id_or_name}/rrsets');

    const cases: [unknown, string][] = [
      [{ ...record, name: 'acme.example.com' }, 'name'],
      [{ ...record, name: 'acme.' }, 'name'],
      [{ ...record, name: 'Acme' }, 'name'],
      [{ ...record, type: 'AXFR' }, 'type'],
      [{ ...record, ttl: 5 }, 'ttl'],
      [{ ...record, records: [{ value: '2001:db8::1' }] }, 'records[0].value'],
      [{ ...record, records: [] }, 'records'],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/zones/example.com/rrsets', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((at(res.body, 'error', 'details', 'fields') as { name: string }[]).map((f) => f.name)).toContain(field);
    }

    const set = await call('POST', '/zones/example.com/rrsets/acme.pipeline/A/actions/set_records', { records: [{ value: '203.0.113.8' }] });
    expect([set.status, at(set.body, 'action', 'command')]).toEqual([201, 'set_rrset_records']);
    expect(at((await call('GET', '/zones/example.com/rrsets/acme.pipeline/A')).body, 'rrset', 'records', 0, 'value')).toBe('203.0.113.8');

    expect(at((await call('GET', '/zones/secondary.example/rrsets')).body, 'error', 'code')).toBe('incorrect_zone_mode');
    expect((await call('GET', '/zones/secondary.example/rrsets')).status).toBe(422);
    expect(at((await call('GET', '/zones/nope.example/rrsets')).body, 'error', 'code')).toBe('not_found');

    const deleted = await call('DELETE', '/zones/example.com/rrsets/acme.pipeline/A');
    expect([deleted.status, at(deleted.body, 'action', 'command')]).toEqual([200, 'delete_rrset']);
    expect(double.requests.at(-1)?.route).toBe('/zones/{id_or_name}/rrsets/{rr_name}/{rr_type}');
    expect((await call('DELETE', '/zones/example.com/rrsets/acme.pipeline/A')).status).toBe(404);
    expect(double.list()).toEqual([]);
  });
});
