/**
 * What tenant provisioning needs from a cloud (DESIGN §7), in Frostbyte's terms.
 *
 * Every operation is idempotent so a provisioning step can run again after a crash or a
 * timeout: a resource is identified by its name (unique per project for every kind) and is
 * only ever adopted when it carries this tenant's `tenant_id` label, so a second run finds
 * what the first made instead of making another, and never takes another tenant's resource.
 * Every resource is labelled `tenant_id=<id>` and `managed_by=frostbyte`; listing by that
 * selector is how on-call engineers and rollback find what exists.
 *
 * Ids are the cloud's numeric ids as decimal strings, so the orchestrator can record them
 * without caring which cloud made them.
 */

export const TENANT_LABEL = 'tenant_id';
export const MANAGED_BY_LABEL = 'managed_by';
export const MANAGED_BY_VALUE = 'frostbyte';

/** `dns_record`: an A record set in the platform's DNS zone, pointing a tenant's host at its server. */
export type CloudResourceKind = 'server' | 'network' | 'firewall' | 'volume' | 'dns_record';

/**
 * `none`: the embedded default. It has no cloud resources: `listResources` answers nothing,
 * deletes succeed, and the find-or-create operations are unsupported, so the orchestrator
 * skips the cloud steps when it sees this kind.
 */
export type CloudProviderKind = 'hetzner' | 'none';

export type Labels = Record<string, string>;

export interface CloudResource {
  kind: CloudResourceKind;
  id: string;
  name: string;
  labels: Labels;
  /** The cloud's own status word (`running`, `available`, …) where it has one. */
  status?: string;
}

/** What a find-or-create answers. `created` is false when an existing resource was adopted. */
export interface EnsuredResource {
  id: string;
  name: string;
  created: boolean;
}

export interface EnsuredServer extends EnsuredResource {
  /** The server's address in the tenant network, once attached. */
  privateIp?: string;
  publicIpv4?: string;
}

interface TenantScoped {
  tenantId: string;
  /** Name of the resource: unique per project and per kind, so it is the idempotency key. */
  name: string;
  /** Extra labels; `tenant_id` and `managed_by` are always set and cannot be overridden. */
  labels?: Labels;
}

export interface NetworkSpec extends TenantScoped {
  /** Whole network, RFC 1918, e.g. `10.42.0.0/16`. */
  ipRange: string;
  /** One subnet of type `cloud` inside `ipRange`, e.g. `10.42.1.0/24`. */
  subnetIpRange: string;
  /** Hetzner network zone of the subnet; `eu-central` covers nbg1, fsn1 and hel1. */
  networkZone: string;
}

export interface FirewallRule {
  direction: 'in' | 'out';
  protocol: 'tcp' | 'udp' | 'icmp' | 'esp' | 'gre';
  /** Port or range `1024-5000`; only for tcp and udp. */
  port?: string;
  /** CIDRs the rule allows from (direction `in`). */
  sourceIps?: string[];
  /** CIDRs the rule allows to (direction `out`). */
  destinationIps?: string[];
  description?: string;
}

export interface FirewallSpec extends TenantScoped {
  rules: FirewallRule[];
  /** Also apply the firewall to every server matching this label selector. */
  applyToLabelSelector?: string;
}

export interface ServerSpec extends TenantScoped {
  /** e.g. `cx22`. */
  serverType: string;
  /** e.g. `ubuntu-22.04`. */
  image: string;
  /** e.g. `nbg1`. */
  location: string;
  /** cloud-init user data; Hetzner limits it to 32 KiB. Never put secrets in it: the cloud stores it. */
  userData: string;
  networkId: string;
  firewallId: string;
}

export interface VolumeSpec extends TenantScoped {
  /** Size in GB (Hetzner: 10–10240). */
  sizeGb: number;
  location: string;
  /** Filesystem to format the volume with on creation. */
  format?: 'ext4' | 'xfs';
}

export interface DnsRecordSpec {
  tenantId: string;
  /** Fully qualified host name inside the provider's zone, e.g. `acme.pipeline.example.com`. */
  host: string;
  /** The one IPv4 address the A record answers. */
  ipv4: string;
  /** Seconds resolvers may cache the answer. */
  ttlSeconds: number;
  /** Extra labels; `tenant_id` and `managed_by` are always set and cannot be overridden. */
  labels?: Labels;
}

export interface CloudProvider {
  readonly kind: CloudProviderKind;
  /**
   * The DNS zone tenant host records are made in (e.g. `example.com`); undefined when this
   * provider makes no DNS records, and then the `dns` provisioning step is skipped.
   */
  readonly dnsZone?: string;
  findOrCreateNetwork(spec: NetworkSpec): Promise<EnsuredResource>;
  findOrCreateFirewall(spec: FirewallSpec): Promise<EnsuredResource>;
  /** Creates the server attached to the network and firewall and waits until it has started. */
  findOrCreateServer(spec: ServerSpec): Promise<EnsuredServer>;
  findOrCreateVolume(spec: VolumeSpec): Promise<EnsuredResource>;
  /** Attaches the volume to the server; already attached to that server is success. */
  attachVolume(volumeId: string, serverId: string, opts?: { automount?: boolean }): Promise<void>;
  /**
   * Points `spec.host` (an A record) at `spec.ipv4`. The record's id is `<name>/A`, its name the
   * full host. An existing record of the host labelled for the tenant is adopted and its value
   * corrected; one not labelled for the tenant is `name_taken`.
   */
  findOrCreateDnsRecord(spec: DnsRecordSpec): Promise<EnsuredResource>;
  /** Every server, network, firewall, volume and DNS record matching the label selector (all pages). */
  listResources(labelSelector: string): Promise<CloudResource[]>;
  /** Deleting a resource that does not exist is success. Each waits until the cloud is done. */
  deleteServer(id: string): Promise<void>;
  deleteNetwork(id: string): Promise<void>;
  deleteFirewall(id: string): Promise<void>;
  /** Detaches the volume first if it is still attached. */
  deleteVolume(id: string): Promise<void>;
  /** Deletes a DNS record by the id `findOrCreateDnsRecord` answered. */
  deleteDnsRecord(id: string): Promise<void>;
}

/**
 * Codes are the cloud's own (`invalid_input`, `uniqueness_error`, `rate_limit_exceeded`,
 * `unauthorized`, …) or Frostbyte's for failures the cloud did not name: `action_timeout`,
 * `action_failed`, `network_error`, `invalid_response`, `name_taken`, `unsupported`.
 * `retryable` says whether running the same step again later can succeed.
 */
export class CloudProviderError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly status?: number;
  readonly details?: unknown;
  constructor(code: string, message: string, opts: { retryable: boolean; status?: number; details?: unknown; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CloudProviderError';
    this.code = code;
    this.retryable = opts.retryable;
    this.status = opts.status;
    this.details = opts.details;
  }
}

/**
 * An asynchronous cloud action did not finish before the deadline. The action may still
 * finish later, so the step is retryable: the next run adopts whatever it produced.
 */
export class CloudActionTimeoutError extends CloudProviderError {
  constructor(
    readonly actionId: string,
    readonly command: string,
    readonly waitedMs: number,
  ) {
    super('action_timeout', `cloud action ${actionId} (${command}) still running after ${waitedMs} ms`, { retryable: true });
    this.name = 'CloudActionTimeoutError';
  }
}

/** The labels every Frostbyte resource of a tenant carries, plus any extra ones. */
export function tenantLabels(tenantId: string, extra: Labels = {}): Labels {
  return { ...extra, [TENANT_LABEL]: tenantId, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };
}

/** Label selector for everything Frostbyte made for a tenant. */
export function tenantSelector(tenantId: string): string {
  return `${TENANT_LABEL}=${tenantId},${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
}

/**
 * Resource names of a tenant (spec §2.4). Hetzner limits volume names to 64 characters and
 * server names to one RFC 1123 label (63), so tenant ids stay well under 40 characters.
 */
export function tenantResourceNames(tenantId: string) {
  return {
    network: `tenant-${tenantId}-private`,
    firewall: `tenant-${tenantId}-fw`,
    server: (role: string, index = 1) => `tenant-${tenantId}-${role}-${index}`,
    volume: `tenant-${tenantId}-data`,
  };
}
