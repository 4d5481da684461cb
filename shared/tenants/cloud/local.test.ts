import { describe, expect, it } from 'vitest';
import { CloudProviderError, tenantSelector } from './cloud-provider';
import { createLocalCloudProvider } from './local';

describe('local cloud driver (embedded default)', () => {
  it('says it has no cloud, lists nothing and deletes successfully', async () => {
    const provider = createLocalCloudProvider();
    expect(provider.kind).toBe('none');
    expect(provider.dnsZone).toBeUndefined();
    expect(await provider.listResources(tenantSelector('acme'))).toEqual([]);
    await expect(provider.deleteServer('1')).resolves.toBeUndefined();
    await expect(provider.deleteVolume('1')).resolves.toBeUndefined();
    await expect(provider.deleteFirewall('1')).resolves.toBeUndefined();
    await expect(provider.deleteNetwork('1')).resolves.toBeUndefined();
    await expect(provider.deleteDnsRecord('acme/A')).resolves.toBeUndefined();
  });

  it('refuses to create cloud resources with a permanent error', async () => {
    const provider = createLocalCloudProvider();
    const err = await provider
      .findOrCreateNetwork({ tenantId: 'acme', name: 'tenant-acme-private', ipRange: '10.1.0.0/16', subnetIpRange: '10.1.1.0/24', networkZone: 'eu-central' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudProviderError);
    expect(err).toMatchObject({ code: 'unsupported', retryable: false });
    const dns = await provider.findOrCreateDnsRecord({ tenantId: 'acme', host: 'acme.example.com', ipv4: '203.0.113.7', ttlSeconds: 300 }).catch((e: unknown) => e);
    expect(dns).toMatchObject({ code: 'unsupported', retryable: false });
  });
});
