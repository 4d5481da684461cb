import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../config/env';
import { dnsRecordSpec, planSteps } from './plan';

describe('provisioning plan', () => {
  const statuses = (cloud: Parameters<typeof planSteps>[0]) => planSteps(cloud).map((s) => `${s.name}:${s.status}`);

  it('runs dns between storage and health; skips it without a DNS zone, and every cloud step without a cloud', () => {
    expect(statuses({ kind: 'hetzner', dnsZone: 'example.com' })).toEqual([
      'network:pending', 'firewall:pending', 'server:pending', 'volume:pending', 'storage:pending', 'dns:pending', 'health:pending',
    ]);
    expect(statuses({ kind: 'hetzner' })).toContain('dns:skipped');
    expect(statuses({ kind: 'none' })).toEqual([
      'network:skipped', 'firewall:skipped', 'server:skipped', 'volume:skipped', 'storage:pending', 'dns:skipped', 'health:pending',
    ]);
  });

  it("points {tenant}.TENANT_DOMAIN at the server's address", () => {
    const env = loadEnv({ HCLOUD_TOKEN: 't', HCLOUD_DNS_ZONE: 'Example.com', TENANT_DOMAIN: 'pipeline.example.com' });
    expect(env.HCLOUD_DNS_ZONE).toBe('example.com');
    expect(dnsRecordSpec(env, 'acme', '203.0.113.7')).toEqual({ tenantId: 'acme', host: 'acme.pipeline.example.com', ipv4: '203.0.113.7', ttlSeconds: 300 });
  });

  it('HCLOUD_DNS_ZONE needs HCLOUD_TOKEN and a TENANT_DOMAIN at or below the zone', () => {
    const problems = (source: Record<string, string>) => {
      try {
        loadEnv(source);
        return [];
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        return e.problems.map((p) => p.key);
      }
    };
    expect(problems({ HCLOUD_DNS_ZONE: 'example.com', TENANT_DOMAIN: 'pipeline.example.com' })).toEqual(['HCLOUD_TOKEN']);
    expect(problems({ HCLOUD_TOKEN: 't', HCLOUD_DNS_ZONE: 'example.com' })).toEqual(['TENANT_DOMAIN']);
    expect(problems({ HCLOUD_TOKEN: 't', HCLOUD_DNS_ZONE: 'example.com', TENANT_DOMAIN: 'pipeline.example.org' })).toEqual(['TENANT_DOMAIN']);
    expect(problems({ HCLOUD_TOKEN: 't', HCLOUD_DNS_ZONE: 'example.com', TENANT_DOMAIN: 'notexample.com' })).toEqual(['TENANT_DOMAIN']);
    expect(problems({ HCLOUD_TOKEN: 't', HCLOUD_DNS_ZONE: 'example.com', TENANT_DOMAIN: 'example.com' })).toEqual([]);
    expect(problems({ HCLOUD_TOKEN: 't', HCLOUD_DNS_ZONE: 'not a domain', TENANT_DOMAIN: 'example.com' })).toEqual(['HCLOUD_DNS_ZONE']);
  });
});
