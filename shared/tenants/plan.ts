import type { Env } from '../config/env';
import type { ProvisioningStepStatus } from '../db/schema/control-operations';
import {
  tenantResourceNames,
  type CloudProvider,
  type CloudResourceKind,
  type DnsRecordSpec,
  type FirewallRule,
  type FirewallSpec,
  type NetworkSpec,
  type ServerSpec,
  type VolumeSpec,
} from './cloud/cloud-provider';

/**
 * A tenant's provisioning, in order (DESIGN §7): its cloud resources, then its storage, then the
 * DNS record of its host, then a readiness check over HTTP. Each step is idempotent and records
 * the ids of what it made, so a run resumes at the first step that has not succeeded and rollback
 * undoes them in reverse.
 */
export const PROVISION_STEPS = ['network', 'firewall', 'server', 'volume', 'storage', 'dns', 'health'] as const;
export type ProvisionStepName = (typeof PROVISION_STEPS)[number];

/** Steps that make cloud resources, and the kind each one makes. Skipped without a cloud. */
export const CLOUD_STEPS: Readonly<Partial<Record<ProvisionStepName, CloudResourceKind>>> = {
  network: 'network',
  firewall: 'firewall',
  server: 'server',
  volume: 'volume',
  dns: 'dns_record',
};

export function isProvisionStep(name: string): name is ProvisionStepName {
  return (PROVISION_STEPS as readonly string[]).includes(name);
}

/** The step rows a new tenant starts with: cloud steps are skipped without a cloud, `dns` without a DNS zone. */
export function planSteps(cloud: Pick<CloudProvider, 'kind' | 'dnsZone'>): { name: ProvisionStepName; position: number; status: ProvisioningStepStatus }[] {
  const skipped = (name: ProvisionStepName) => (CLOUD_STEPS[name] !== undefined && cloud.kind === 'none') || (name === 'dns' && !cloud.dnsZone);
  return PROVISION_STEPS.map((name, i) => ({ name, position: i + 1, status: skipped(name) ? 'skipped' : 'pending' }));
}

/** Role label of a tenant's server; the name is `tenant-<id>-data-1`. */
export const SERVER_ROLE = 'data';

/** Where a tenant's data volume is mounted by cloud-init (Hetzner automounts to /mnt/HC_Volume_<id>). */
export const DATA_MOUNT = '/var/lib/frostbyte';

/** Seconds resolvers may cache a tenant's A record: short, so a replaced server is reached soon. */
export const DNS_TTL_SECONDS = 300;

/** A tenant's host name, `{tenant}.TENANT_DOMAIN`; undefined without TENANT_DOMAIN. */
export function tenantHost(env: Env, tenantId: string): string | undefined {
  return env.TENANT_DOMAIN ? `${tenantId}.${env.TENANT_DOMAIN}` : undefined;
}

export function dnsRecordSpec(env: Env, tenantId: string, ipv4: string): DnsRecordSpec {
  const host = tenantHost(env, tenantId);
  if (!host) throw new Error('the dns step needs TENANT_DOMAIN (tenant hosts are {tenant}.TENANT_DOMAIN)');
  return { tenantId, host, ipv4, ttlSeconds: DNS_TTL_SECONDS };
}

/** The cloud resource a cloud step makes, by its deterministic name. */
export function cloudResourceName(env: Env, tenantId: string, step: ProvisionStepName): string | undefined {
  const names = tenantResourceNames(tenantId);
  switch (step) {
    case 'dns':
      return tenantHost(env, tenantId);
    case 'network':
      return names.network;
    case 'firewall':
      return names.firewall;
    case 'server':
      return names.server(SERVER_ROLE);
    case 'volume':
      return names.volume;
    default:
      return undefined;
  }
}

export function networkSpec(env: Env, tenantId: string): NetworkSpec {
  return {
    tenantId,
    name: tenantResourceNames(tenantId).network,
    ipRange: env.HCLOUD_NETWORK_IP_RANGE,
    subnetIpRange: env.HCLOUD_SUBNET_IP_RANGE,
    networkZone: env.HCLOUD_NETWORK_ZONE,
  };
}

/**
 * Inbound: ICMP (so the host can be diagnosed) and SSH only from HCLOUD_SSH_SOURCE_IPS. Hetzner
 * firewalls filter the public interface only; the platform reaches the server over the tenant's
 * private network. Outbound stays open (no `out` rule means everything is allowed).
 */
export function firewallSpec(env: Env, tenantId: string): FirewallSpec {
  const rules: FirewallRule[] = [{ direction: 'in', protocol: 'icmp', sourceIps: ['0.0.0.0/0', '::/0'], description: 'ping' }];
  const ssh = (env.HCLOUD_SSH_SOURCE_IPS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (ssh.length) rules.push({ direction: 'in', protocol: 'tcp', port: '22', sourceIps: ssh, description: 'ssh from operators' });
  return { tenantId, name: tenantResourceNames(tenantId).firewall, rules };
}

export function serverSpec(env: Env, tenantId: string, ids: { networkId: string; firewallId: string }): ServerSpec {
  return {
    tenantId,
    name: tenantResourceNames(tenantId).server(SERVER_ROLE),
    labels: { role: SERVER_ROLE },
    serverType: env.HCLOUD_SERVER_TYPE,
    image: env.HCLOUD_IMAGE,
    location: env.HCLOUD_LOCATION,
    userData: cloudInit(tenantId),
    networkId: ids.networkId,
    firewallId: ids.firewallId,
  };
}

export function volumeSpec(env: Env, tenantId: string): VolumeSpec {
  return {
    tenantId,
    name: tenantResourceNames(tenantId).volume,
    sizeGb: env.HCLOUD_VOLUME_SIZE_GB,
    location: env.HCLOUD_LOCATION,
    format: 'ext4',
  };
}

/**
 * cloud-init of a tenant server. Hetzner keeps user data with the server, so it holds no
 * secrets: only the tenant id, the data mount and host hardening. The volume is attached later
 * with automount, so the mount waits for its device.
 */
export function cloudInit(tenantId: string): string {
  return [
    '#cloud-config',
    `hostname: tenant-${tenantId}`,
    'package_update: true',
    'packages: [unattended-upgrades]',
    'ssh_pwauth: false',
    'write_files:',
    '  - path: /etc/frostbyte/tenant',
    '    permissions: "0644"',
    `    content: "${tenantId}\\n"`,
    'runcmd:',
    `  - [mkdir, -p, ${DATA_MOUNT}]`,
    '  - [systemctl, enable, --now, unattended-upgrades]',
    '',
  ].join('\n');
}
