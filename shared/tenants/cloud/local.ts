import { CloudProviderError, type CloudProvider, type CloudResource } from './cloud-provider';

/**
 * The embedded default (one machine, DESIGN §1) has no cloud: a tenant is a schema and a
 * folder on this machine. The orchestrator sees `kind === 'none'` and skips the cloud steps
 * (DNS included: tenants are reached by path or `{tenant}.localhost`);
 * listing finds nothing and deleting succeeds, so rollback and deprovisioning need no special
 * case. Asking it to create something is a wiring mistake and fails loudly.
 */
export function createLocalCloudProvider(): CloudProvider {
  const unsupported = (what: string): Promise<never> =>
    Promise.reject(new CloudProviderError('unsupported', `the embedded default has no cloud: cannot ${what}`, { retryable: false }));
  return {
    kind: 'none',
    findOrCreateNetwork: () => unsupported('create a network'),
    findOrCreateFirewall: () => unsupported('create a firewall'),
    findOrCreateServer: () => unsupported('create a server'),
    findOrCreateVolume: () => unsupported('create a volume'),
    attachVolume: () => unsupported('attach a volume'),
    findOrCreateDnsRecord: () => unsupported('create a DNS record'),
    listResources: async (): Promise<CloudResource[]> => [],
    deleteServer: async () => {},
    deleteNetwork: async () => {},
    deleteFirewall: async () => {},
    deleteVolume: async () => {},
    deleteDnsRecord: async () => {},
  };
}
