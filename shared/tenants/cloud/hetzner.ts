import * as v from 'valibot';
import { systemClock, type Clock } from '../../clock';
import { silentLogger, type Logger } from '../../log';
import {
  CloudActionTimeoutError,
  CloudProviderError,
  tenantLabels,
  type CloudProvider,
  type CloudResource,
  type CloudResourceKind,
  type DnsRecordSpec,
  type EnsuredResource,
  type EnsuredServer,
  type FirewallRule,
  type FirewallSpec,
  type NetworkSpec,
  type ServerSpec,
  type VolumeSpec,
  TENANT_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
} from './cloud-provider';

/**
 * Hetzner Cloud driver of the `CloudProvider` port, over the documented Hetzner Cloud API v1
 * (https://docs.hetzner.cloud, OpenAPI `spec.json`) with `fetch` only, so it runs on Node,
 * Workers and Lambda alike.
 *
 * Wire behaviour it relies on:
 * - `Authorization: Bearer <token>`; errors are `{error:{code,message,details}}`.
 * - Lists take `name`, `label_selector`, `page`, `per_page` (max 50) and answer
 *   `meta.pagination.next_page` (null on the last page).
 * - Creating a server or volume, applying firewall rules, attaching and detaching volumes and
 *   deleting a server answer Action objects (`running` → `success` | `error`), polled with
 *   `GET /actions/{id}`.
 * - 429 `rate_limit_exceeded` carries `RateLimit-Limit/-Remaining/-Reset` (reset is a UNIX
 *   time in seconds; the budget refills by one request per second).
 * - DNS (zones in primary mode): RRSets live under `/zones/{id_or_name}/rrsets`, are named
 *   relative to the zone (lower case, no trailing dot, `@` for the apex) and identified by
 *   `{name}/{type}`; creating, deleting and setting records answer Action objects. Zones in
 *   secondary mode answer 422 `incorrect_zone_mode`.
 */
export const HETZNER_API_URL = 'https://api.hetzner.cloud/v1';

export interface HetznerCloudOptions {
  /** Project API token (read & write). Never logged. */
  token: string;
  /** Default `https://api.hetzner.cloud/v1`. */
  baseUrl?: string;
  fetch?: typeof fetch;
  clock?: Clock;
  /** Waits between retries and action polls; tests pass one that moves a ManualClock. */
  sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
  logger?: Logger;
  /** Attempts per request when the failure is retryable (429, 5xx, network). Default 5. */
  maxAttempts?: number;
  /** First backoff in ms, doubled per attempt (half of it jittered). Default 1000. */
  backoffBaseMs?: number;
  /** Longest backoff in ms. Default 30 000. */
  backoffMaxMs?: number;
  /**
   * Longest wait for one 429, in ms. The reset header names when the whole hourly budget is
   * back, but one request per second refills, so waiting longer than this is never needed.
   * Default 60 000.
   */
  rateLimitMaxWaitMs?: number;
  /** Interval between action polls in ms. Default 1000 (hcloud's own CLI polls every 500). */
  actionPollIntervalMs?: number;
  /** Deadline for the actions of one operation in ms; servers take 60–120 s to run. Default 300 000. */
  actionTimeoutMs?: number;
  /** Per HTTP request, in ms. Default 30 000. */
  requestTimeoutMs?: number;
  /** Name of the DNS zone (primary mode) tenant host records go in. Unset: no DNS records. */
  dnsZone?: string;
}

// Error codes that say "try again": the API's own advice (conflict, locked) or a passing fault.
const RETRYABLE_CODES = new Set(['rate_limit_exceeded', 'conflict', 'locked', 'server_error', 'timeout', 'bad_gateway', 'maintenance', 'robot_unavailable']);

const LabelsSchema = v.record(v.string(), v.string());
const ActionSchema = v.looseObject({
  id: v.number(),
  command: v.string(),
  status: v.picklist(['running', 'success', 'error']),
  error: v.nullish(v.looseObject({ code: v.string(), message: v.string() })),
});
type HAction = v.InferOutput<typeof ActionSchema>;
const ActionsSchema = v.optional(v.array(ActionSchema), []);
const NamedSchema = v.looseObject({ id: v.number(), name: v.string(), labels: v.optional(LabelsSchema, {}) });
type HNamed = v.InferOutput<typeof NamedSchema>;
const ServerSchema = v.looseObject({
  ...NamedSchema.entries,
  status: v.string(),
  public_net: v.nullish(v.looseObject({ ipv4: v.nullish(v.looseObject({ ip: v.string() })) })),
  private_net: v.optional(v.array(v.looseObject({ network: v.number(), ip: v.string() })), []),
});
type HServer = v.InferOutput<typeof ServerSchema>;
const VolumeSchema = v.looseObject({ ...NamedSchema.entries, server: v.nullish(v.number()), status: v.string() });
const RrsetSchema = v.looseObject({
  id: v.string(),
  name: v.string(),
  type: v.string(),
  labels: v.optional(LabelsSchema, {}),
  records: v.optional(v.array(v.looseObject({ value: v.string() })), []),
});
type HRrset = v.InferOutput<typeof RrsetSchema>;
const PageMetaSchema = v.optional(v.looseObject({ pagination: v.optional(v.looseObject({ next_page: v.nullish(v.number()) })) }));
const ErrorBodySchema = v.looseObject({ error: v.looseObject({ code: v.string(), message: v.string(), details: v.optional(v.unknown()) }) });

/** The kinds with a collection of their own (`/servers`, …); DNS records live under their zone. */
type CloudServerKind = Exclude<CloudResourceKind, 'dns_record'>;
const COLLECTIONS: Record<CloudServerKind, { path: string; one: string; many: string }> = {
  server: { path: '/servers', one: 'server', many: 'servers' },
  network: { path: '/networks', one: 'network', many: 'networks' },
  firewall: { path: '/firewalls', one: 'firewall', many: 'firewalls' },
  volume: { path: '/volumes', one: 'volume', many: 'volumes' },
};
// Hetzner's documented maximum page size.
const PER_PAGE = 50;

type Query = Record<string, string | number | undefined>;

export function createHetznerCloudProvider(options: HetznerCloudOptions): CloudProvider {
  return new HetznerCloud(options);
}

class HetznerCloud implements CloudProvider {
  readonly kind = 'hetzner' as const;
  readonly dnsZone: string | undefined;
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly fetchFn: typeof fetch;
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly rateLimitMaxWaitMs: number;
  private readonly actionPollIntervalMs: number;
  private readonly actionTimeoutMs: number;
  private readonly requestTimeoutMs: number;

  constructor(o: HetznerCloudOptions) {
    this.baseUrl = (o.baseUrl ?? HETZNER_API_URL).replace(/\/+$/, '');
    this.token = o.token;
    this.fetchFn = o.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.clock = o.clock ?? systemClock;
    this.sleep = o.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = o.random ?? Math.random;
    this.logger = o.logger ?? silentLogger;
    this.maxAttempts = o.maxAttempts ?? 5;
    this.backoffBaseMs = o.backoffBaseMs ?? 1000;
    this.backoffMaxMs = o.backoffMaxMs ?? 30_000;
    this.rateLimitMaxWaitMs = o.rateLimitMaxWaitMs ?? 60_000;
    this.actionPollIntervalMs = o.actionPollIntervalMs ?? 1000;
    this.actionTimeoutMs = o.actionTimeoutMs ?? 300_000;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 30_000;
    this.dnsZone = o.dnsZone?.toLowerCase().replace(/\.$/, '');
  }

  async findOrCreateNetwork(spec: NetworkSpec): Promise<EnsuredResource> {
    const { resource, created } = await this.findOrCreate('network', spec, NamedSchema, async () => {
      const body = await this.request('POST', '/networks', {
        body: {
          name: spec.name,
          ip_range: spec.ipRange,
          subnets: [{ type: 'cloud', ip_range: spec.subnetIpRange, network_zone: spec.networkZone }],
          labels: tenantLabels(spec.tenantId, spec.labels),
        },
      });
      const parsed = parse(v.looseObject({ network: NamedSchema }), body, 'POST /networks');
      return { resource: parsed.network, actions: [] };
    });
    return { id: String(resource.id), name: resource.name, created };
  }

  async findOrCreateFirewall(spec: FirewallSpec): Promise<EnsuredResource> {
    const { resource, created } = await this.findOrCreate('firewall', spec, NamedSchema, async () => {
      const body = await this.request('POST', '/firewalls', {
        body: {
          name: spec.name,
          labels: tenantLabels(spec.tenantId, spec.labels),
          rules: spec.rules.map(toApiRule),
          ...(spec.applyToLabelSelector ? { apply_to: [{ type: 'label_selector', label_selector: { selector: spec.applyToLabelSelector } }] } : {}),
        },
      });
      const parsed = parse(v.looseObject({ firewall: NamedSchema, actions: ActionsSchema }), body, 'POST /firewalls');
      return { resource: parsed.firewall, actions: parsed.actions };
    });
    return { id: String(resource.id), name: resource.name, created };
  }

  async findOrCreateServer(spec: ServerSpec): Promise<EnsuredServer> {
    const networkId = toApiId(spec.networkId, 'network');
    const firewallId = toApiId(spec.firewallId, 'firewall');
    const { resource, created } = await this.findOrCreate('server', spec, ServerSchema, async () => {
      const body = await this.request('POST', '/servers', {
        body: {
          name: spec.name,
          server_type: spec.serverType,
          image: spec.image,
          location: spec.location,
          user_data: spec.userData,
          labels: tenantLabels(spec.tenantId, spec.labels),
          networks: [networkId],
          firewalls: [{ firewall: firewallId }],
          start_after_create: true,
        },
      });
      const parsed = parse(v.looseObject({ server: ServerSchema, action: ActionSchema, next_actions: ActionsSchema }), body, 'POST /servers');
      // `action` is create_server; `next_actions` start it and attach the network.
      return { resource: parsed.server, actions: [parsed.action, ...parsed.next_actions] };
    });
    // The create answer is preliminary (no private IP yet); read the settled server.
    const server = await this.getServer(resource.id);
    const current = server ?? resource;
    return {
      id: String(current.id),
      name: current.name,
      created,
      privateIp: current.private_net.find((n) => n.network === networkId)?.ip,
      publicIpv4: current.public_net?.ipv4?.ip,
    };
  }

  async findOrCreateVolume(spec: VolumeSpec): Promise<EnsuredResource> {
    const { resource, created } = await this.findOrCreate('volume', spec, VolumeSchema, async () => {
      const body = await this.request('POST', '/volumes', {
        body: {
          name: spec.name,
          size: spec.sizeGb,
          location: spec.location,
          labels: tenantLabels(spec.tenantId, spec.labels),
          ...(spec.format ? { format: spec.format } : {}),
        },
      });
      const parsed = parse(v.looseObject({ volume: VolumeSchema, action: ActionSchema, next_actions: ActionsSchema }), body, 'POST /volumes');
      return { resource: parsed.volume, actions: [parsed.action, ...parsed.next_actions] };
    });
    return { id: String(resource.id), name: resource.name, created };
  }

  async attachVolume(volumeId: string, serverId: string, opts: { automount?: boolean } = {}): Promise<void> {
    const vid = toApiId(volumeId, 'volume');
    const sid = toApiId(serverId, 'server');
    const volume = await this.getOne('volume', vid, VolumeSchema);
    if (!volume) throw new CloudProviderError('not_found', `volume ${vid} does not exist`, { retryable: false, status: 404 });
    if (volume.server === sid) return;
    if (volume.server != null) {
      throw new CloudProviderError('volume_already_attached', `volume ${vid} is attached to server ${volume.server}, not ${sid}`, { retryable: false });
    }
    const deadline = this.deadline();
    const body = await this.request('POST', `/volumes/${vid}/actions/attach`, {
      body: { server: sid, ...(opts.automount === undefined ? {} : { automount: opts.automount }) },
    });
    await this.waitForActions([parse(v.looseObject({ action: ActionSchema }), body, 'attach volume').action], deadline);
  }

  async listResources(labelSelector: string): Promise<CloudResource[]> {
    const out: CloudResource[] = [];
    // One collection after the other: four small reads are gentler on the hourly budget than a burst.
    for (const kind of ['server', 'volume', 'firewall', 'network'] as const) {
      const schema = kind === 'server' ? ServerSchema : kind === 'volume' ? VolumeSchema : NamedSchema;
      for (const item of await this.listAll(kind, { label_selector: labelSelector }, schema)) {
        out.push({ kind, id: String(item.id), name: item.name, labels: item.labels, ...('status' in item && typeof item.status === 'string' ? { status: item.status } : {}) });
      }
    }
    if (this.dnsZone) {
      const zone = this.dnsZone;
      for (const rrset of await this.listPages(`${zonePath(zone)}/rrsets`, 'rrsets', { label_selector: labelSelector }, RrsetSchema)) {
        out.push({ kind: 'dns_record', id: rrset.id, name: hostOf(rrset.name, zone), labels: rrset.labels });
      }
    }
    return out;
  }

  // ---- DNS ----------------------------------------------------------------------------------

  async findOrCreateDnsRecord(spec: DnsRecordSpec): Promise<EnsuredResource> {
    const zone = this.requireZone();
    const name = relativeName(spec.host, zone);
    const deadline = this.deadline();
    const existing = await this.getRrset(zone, name);
    if (existing) return { id: await this.adoptRrset(zone, existing, spec, deadline), name: spec.host, created: false };
    try {
      const body = await this.request('POST', `${zonePath(zone)}/rrsets`, {
        body: { name, type: 'A', ttl: spec.ttlSeconds, labels: tenantLabels(spec.tenantId, spec.labels), records: [{ value: spec.ipv4 }] },
      });
      const parsed = parse(v.looseObject({ rrset: RrsetSchema, action: ActionSchema }), body, 'POST /zones/{zone}/rrsets');
      await this.waitForActions([parsed.action], deadline);
      return { id: parsed.rrset.id, name: spec.host, created: true };
    } catch (err) {
      // Made by an earlier attempt whose answer was lost, or by a concurrent run.
      if (err instanceof CloudProviderError && err.code === 'uniqueness_error') {
        const taken = await this.getRrset(zone, name);
        if (taken) return { id: await this.adoptRrset(zone, taken, spec, deadline), name: spec.host, created: false };
      }
      throw err;
    }
  }

  async deleteDnsRecord(id: string): Promise<void> {
    const zone = this.requireZone();
    const m = /^([a-z0-9@*_.-]+)\/([A-Z]+)$/.exec(id);
    if (!m) throw new CloudProviderError('invalid_id', `DNS record id must be <name>/<TYPE>, got "${id}"`, { retryable: false });
    const deadline = this.deadline();
    const body = await this.ignoreNotFound(() => this.request('DELETE', `${zonePath(zone)}/rrsets/${encodeURIComponent(m[1])}/${m[2]}`));
    if (body === undefined) return;
    await this.waitForActions([parse(v.looseObject({ action: ActionSchema }), body, 'DELETE /zones/{zone}/rrsets/{name}/{type}').action], deadline);
  }

  private requireZone(): string {
    if (!this.dnsZone) throw new CloudProviderError('dns_not_configured', 'this process has no DNS zone configured (set HCLOUD_DNS_ZONE)', { retryable: false });
    return this.dnsZone;
  }

  private async getRrset(zone: string, name: string): Promise<HRrset | undefined> {
    const body = await this.ignoreNotFound(() => this.request('GET', `${zonePath(zone)}/rrsets/${encodeURIComponent(name)}/A`));
    if (body === undefined) return undefined;
    return parse(v.looseObject({ rrset: RrsetSchema }), body, 'GET /zones/{zone}/rrsets/{name}/{type}').rrset;
  }

  /** Refuses a record that is not Frostbyte's for this tenant; points one that is at the wanted address. */
  private async adoptRrset(zone: string, rrset: HRrset, spec: DnsRecordSpec, deadline: number): Promise<string> {
    if (rrset.labels[TENANT_LABEL] !== spec.tenantId || rrset.labels[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) {
      throw new CloudProviderError('name_taken', `DNS record ${spec.host} (A) exists and is not labelled for tenant ${spec.tenantId}`, { retryable: false });
    }
    const values = rrset.records.map((r) => r.value);
    if (values.length !== 1 || values[0] !== spec.ipv4) {
      // The server was replaced since the record was made: the record follows it.
      const body = await this.request('POST', `${zonePath(zone)}/rrsets/${encodeURIComponent(rrset.name)}/A/actions/set_records`, { body: { records: [{ value: spec.ipv4 }] } });
      await this.waitForActions([parse(v.looseObject({ action: ActionSchema }), body, 'set_records').action], deadline);
    }
    return rrset.id;
  }

  async deleteServer(id: string): Promise<void> {
    const sid = toApiId(id, 'server');
    const deadline = this.deadline();
    const body = await this.ignoreNotFound(() => this.request('DELETE', `/servers/${sid}`));
    if (body === undefined) return;
    await this.waitForActions([parse(v.looseObject({ action: ActionSchema }), body, 'DELETE /servers').action], deadline);
  }

  async deleteNetwork(id: string): Promise<void> {
    const nid = toApiId(id, 'network');
    await this.ignoreNotFound(() => this.request('DELETE', `/networks/${nid}`));
  }

  async deleteFirewall(id: string): Promise<void> {
    const fid = toApiId(id, 'firewall');
    await this.ignoreNotFound(() => this.request('DELETE', `/firewalls/${fid}`));
  }

  async deleteVolume(id: string): Promise<void> {
    const vid = toApiId(id, 'volume');
    const volume = await this.getOne('volume', vid, VolumeSchema);
    if (!volume) return;
    // The API refuses to delete an attached volume.
    if (volume.server != null) {
      const deadline = this.deadline();
      const body = await this.ignoreNotFound(() => this.request('POST', `/volumes/${vid}/actions/detach`, { body: {} }));
      if (body !== undefined) await this.waitForActions([parse(v.looseObject({ action: ActionSchema }), body, 'detach volume').action], deadline);
    }
    await this.ignoreNotFound(() => this.request('DELETE', `/volumes/${vid}`));
  }

  // ---- find-or-create ---------------------------------------------------------------------

  /**
   * Looks the name up first and adopts a resource labelled for this tenant; otherwise creates
   * it and waits for its actions. A `uniqueness_error` on create means an earlier attempt (or a
   * concurrent run) made it after all, so it is looked up again and adopted.
   */
  private async findOrCreate<T extends HNamed>(
    kind: CloudServerKind,
    spec: { tenantId: string; name: string },
    schema: v.GenericSchema<unknown, T>,
    create: () => Promise<{ resource: T; actions: HAction[] }>,
  ): Promise<{ resource: T; created: boolean }> {
    const deadline = this.deadline();
    const existing = await this.findByName(kind, spec.name, schema);
    if (existing) return { resource: await this.adopt(kind, existing, spec.tenantId, deadline), created: false };
    try {
      const { resource, actions } = await create();
      await this.waitForActions(actions, deadline);
      return { resource, created: true };
    } catch (err) {
      if (err instanceof CloudProviderError && err.code === 'uniqueness_error') {
        const taken = await this.findByName(kind, spec.name, schema);
        if (taken) {
          this.logger.log('info', 'adopting cloud resource after uniqueness_error', { component: 'cloud', tenant_id: spec.tenantId, kind, resource_id: taken.id });
          return { resource: await this.adopt(kind, taken, spec.tenantId, deadline), created: false };
        }
      }
      throw err;
    }
  }

  /** Refuses a resource that is not Frostbyte's for this tenant; waits for actions still running on it. */
  private async adopt<T extends HNamed>(kind: CloudServerKind, resource: T, tenantId: string, deadline: number): Promise<T> {
    if (resource.labels[TENANT_LABEL] !== tenantId || resource.labels[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) {
      throw new CloudProviderError('name_taken', `${kind} name "${resource.name}" is taken by resource ${resource.id}, which is not labelled for tenant ${tenantId}`, {
        retryable: false,
      });
    }
    // A previous run may have timed out while the cloud was still creating it.
    const body = await this.request('GET', `${COLLECTIONS[kind].path}/${resource.id}/actions`, { query: { status: 'running' } });
    await this.waitForActions(parse(v.looseObject({ actions: ActionsSchema }), body, `${kind} actions`).actions, deadline);
    return resource;
  }

  private async findByName<T>(kind: CloudServerKind, name: string, schema: v.GenericSchema<unknown, T>): Promise<T | undefined> {
    const c = COLLECTIONS[kind];
    const body = await this.request('GET', c.path, { query: { name } });
    const items = parse(v.looseObject({ [c.many]: v.array(schema) }), body, `GET ${c.path}`)[c.many] as T[];
    return items[0];
  }

  private async getOne<T>(kind: CloudServerKind, id: number, schema: v.GenericSchema<unknown, T>): Promise<T | undefined> {
    const c = COLLECTIONS[kind];
    const body = await this.ignoreNotFound(() => this.request('GET', `${c.path}/${id}`));
    if (body === undefined) return undefined;
    return parse(v.looseObject({ [c.one]: schema }), body, `GET ${c.path}/{id}`)[c.one] as T;
  }

  private getServer(id: number): Promise<HServer | undefined> {
    return this.getOne('server', id, ServerSchema);
  }

  private listAll<T>(kind: CloudServerKind, query: Query, schema: v.GenericSchema<unknown, T>): Promise<T[]> {
    const c = COLLECTIONS[kind];
    return this.listPages(c.path, c.many, query, schema);
  }

  private async listPages<T>(path: string, key: string, query: Query, schema: v.GenericSchema<unknown, T>): Promise<T[]> {
    const itemsSchema = v.looseObject({ [key]: v.array(schema) });
    const metaSchema = v.looseObject({ meta: PageMetaSchema });
    const out: T[] = [];
    let page: number | null | undefined = 1;
    // A guard against a server that never says "last page": 1000 pages of 50 is far past any quota.
    for (let i = 0; page != null && i < 1000; i++) {
      const body = await this.request('GET', path, { query: { ...query, page, per_page: PER_PAGE } });
      out.push(...(parse(itemsSchema, body, `GET ${path}`)[key] as T[]));
      const next = parse(metaSchema, body, `GET ${path}`).meta?.pagination?.next_page;
      page = next != null && next > page ? next : null;
    }
    return out;
  }

  // ---- actions ----------------------------------------------------------------------------

  private deadline(): number {
    return this.clock.now().getTime() + this.actionTimeoutMs;
  }

  private async waitForActions(actions: HAction[], deadline: number): Promise<void> {
    for (const action of actions) await this.waitForAction(action, deadline);
  }

  private async waitForAction(first: HAction, deadline: number): Promise<void> {
    const startedAt = this.clock.now().getTime();
    let action = first;
    while (action.status === 'running') {
      const now = this.clock.now().getTime();
      if (now >= deadline) throw new CloudActionTimeoutError(String(action.id), action.command, now - startedAt);
      await this.sleep(Math.min(this.actionPollIntervalMs, deadline - now));
      const body = await this.request('GET', `/actions/${action.id}`);
      action = parse(v.looseObject({ action: ActionSchema }), body, 'GET /actions/{id}').action;
    }
    if (action.status === 'error') {
      throw new CloudProviderError(action.error?.code ?? 'action_failed', `cloud action ${action.id} (${action.command}) failed: ${action.error?.message ?? 'no message'}`, {
        retryable: false,
        details: action.error,
      });
    }
  }

  // ---- HTTP -------------------------------------------------------------------------------

  private async ignoreNotFound<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CloudProviderError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  /** One API call with retries; answers the parsed JSON body (undefined for 204). */
  private async request(method: 'GET' | 'POST' | 'DELETE', path: string, opts: { query?: Query; body?: unknown } = {}): Promise<unknown> {
    const url = new URL(this.baseUrl + path);
    for (const [k, value] of Object.entries(opts.query ?? {})) if (value !== undefined) url.searchParams.set(k, String(value));
    const headers: Record<string, string> = { accept: 'application/json' };
    // A missing token is sent as no header at all, so the API's own 401 says what is wrong.
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(opts.body);
    }

    for (let attempt = 1; ; attempt++) {
      let failure: CloudProviderError;
      let response: Response | undefined;
      try {
        response = await this.fetchFn(url, { method, headers, body: payload, signal: AbortSignal.timeout(this.requestTimeoutMs) });
        const text = await response.text();
        if (response.ok) return text ? parseJson(text, `${method} ${path}`) : undefined;
        failure = toApiError(method, path, response.status, text);
      } catch (err) {
        if (err instanceof CloudProviderError) throw err;
        failure = new CloudProviderError('network_error', `${method} ${path}: ${err instanceof Error ? err.message : String(err)}`, { retryable: true, cause: err });
      }
      if (!failure.retryable || attempt >= this.maxAttempts) throw failure;
      const waitMs = this.retryDelay(attempt, response);
      this.logger.log('warn', 'cloud request failed, retrying', {
        component: 'cloud',
        method,
        path,
        status: failure.status ?? null,
        code: failure.code,
        attempt,
        wait_ms: waitMs,
      });
      await this.sleep(waitMs);
    }
  }

  private retryDelay(attempt: number, response: Response | undefined): number {
    if (response?.status === 429) {
      const reset = Number(response.headers.get('ratelimit-reset'));
      const retryAfter = Number(response.headers.get('retry-after'));
      let waitMs: number;
      if (Number.isFinite(reset) && reset > 0) waitMs = reset * 1000 - this.clock.now().getTime();
      else if (Number.isFinite(retryAfter) && retryAfter > 0) waitMs = retryAfter * 1000;
      else waitMs = this.backoff(attempt);
      // At least a second (one request refills per second), at most the configured ceiling.
      return Math.min(Math.max(waitMs, 1000), this.rateLimitMaxWaitMs);
    }
    return this.backoff(attempt);
  }

  private backoff(attempt: number): number {
    const full = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (attempt - 1));
    return Math.round(full / 2 + (this.random() * full) / 2);
  }
}

const zonePath = (zone: string) => `/zones/${encodeURIComponent(zone)}`;

/** `acme.pipeline.example.com` in zone `example.com` → `acme.pipeline` (the zone apex is `@`). */
function relativeName(host: string, zone: string): string {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === zone) return '@';
  if (!h.endsWith(`.${zone}`)) throw new CloudProviderError('invalid_input', `host ${host} is not inside the DNS zone ${zone}`, { retryable: false });
  return h.slice(0, -(zone.length + 1));
}

function hostOf(name: string, zone: string): string {
  return name === '@' ? zone : `${name}.${zone}`;
}

function toApiRule(rule: FirewallRule) {
  return {
    direction: rule.direction,
    protocol: rule.protocol,
    ...(rule.port === undefined ? {} : { port: rule.port }),
    ...(rule.sourceIps === undefined ? {} : { source_ips: rule.sourceIps }),
    ...(rule.destinationIps === undefined ? {} : { destination_ips: rule.destinationIps }),
    ...(rule.description === undefined ? {} : { description: rule.description }),
  };
}

function toApiId(id: string, what: string): number {
  if (!/^[1-9]\d{0,15}$/.test(id)) throw new CloudProviderError('invalid_id', `${what} id must be a positive whole number, got "${id}"`, { retryable: false });
  return Number(id);
}

function toApiError(method: string, path: string, status: number, text: string): CloudProviderError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const parsed = v.safeParse(ErrorBodySchema, body);
  const code = parsed.success ? parsed.output.error.code : status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : `http_${status}`;
  const message = parsed.success ? parsed.output.error.message : `HTTP ${status}`;
  return new CloudProviderError(code, `${method} ${path}: ${message} (${code})`, {
    retryable: status === 429 || status >= 500 || RETRYABLE_CODES.has(code),
    status,
    details: parsed.success ? parsed.output.error.details : undefined,
  });
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CloudProviderError('invalid_response', `${what}: answer is not JSON`, { retryable: false, cause: err });
  }
}

function parse<T>(schema: v.GenericSchema<unknown, T>, body: unknown, what: string): T {
  const result = v.safeParse(schema, body);
  if (!result.success) {
    const issue = result.issues[0];
    throw new CloudProviderError('invalid_response', `${what}: unexpected answer (${v.getDotPath(issue) ?? 'body'}: ${issue.message})`, { retryable: false });
  }
  return result.output;
}

