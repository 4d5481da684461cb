import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../../shared/clock';
import { LabelSelectorError, matchesSelector, parseLabelSelector, type Labels } from './labels';
import {
  HOSTNAME,
  Problems,
  VOLUME_NAME,
  cidrContains,
  formatIp4,
  isCidr,
  isInteger,
  isObject,
  isRfc1918,
  optionalArray,
  optionalBoolean,
  optionalLabels,
  optionalString,
  parseCidr4,
  requireString,
  type Json,
} from './validate';

/**
 * A local HTTP double of the Hetzner Cloud API v1 for tests (the real API cannot be reached
 * from here). It follows the documented paths, request and response shapes, labels and label
 * selectors, pagination, Action objects and error bodies (OpenAPI `spec.json` as published at
 * docs.hetzner.cloud), for the resource kinds tenant provisioning uses: networks, firewalls,
 * servers, volumes, and DNS zones with their RRSets (`/zones/{id_or_name}/rrsets…`).
 *
 * Beyond the API it lets a test inject faults (fail the Nth call of a route, answer 429 with
 * rate-limit headers, keep an action running forever or make it fail) and list what exists.
 *
 * Where the documentation is silent the double picks one behaviour and says so:
 * - HTTP status of `resource_in_use`, `volume_already_attached` and of deleting an attached
 *   volume (`service_error`, message as the real API words it): 409.
 * - A server or firewall naming a network or firewall that does not exist: `invalid_input`.
 * - `RateLimit-Remaining` is not counted down; only injected 429s throttle.
 * - Zones exist from the start (`zones` option); creating an RRSet whose name and type exist:
 *   409 `uniqueness_error`; RRSet TTLs from 60 s; A records must hold IPv4 addresses.
 */

export type DoubleKind = 'server' | 'network' | 'firewall' | 'volume' | 'rrset';

export interface DoubleResource {
  kind: DoubleKind;
  /** Numeric, except RRSets: `{name}/{type}`. */
  id: number | string;
  name: string;
  labels: Labels;
}

export interface FaultSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /**
   * Path below `/v1` with `{id}` for ids: `/servers`, `/volumes/{id}/actions/attach`, `/actions/{id}`;
   * zones and RRSets as documented: `/zones/{id_or_name}/rrsets/{rr_name}/{rr_type}`.
   */
  route: string;
  /** Which matching call fails, counted from when the fault was added (1 = the next one). Default 1. */
  nth?: number;
  /** How many calls in a row fail from the nth on. Default 1. */
  times?: number;
  status: number;
  code: string;
  message?: string;
  details?: unknown;
  headers?: Record<string, string>;
  /** Do the work, then answer the fault: a reply lost on its way back. */
  afterCommit?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Path below `/v1`, ids included. */
  path: string;
  route: string;
  query: Record<string, string>;
  body?: unknown;
  status: number;
}

export interface HetznerDoubleOptions {
  /** The only token accepted. Default `test-token`. */
  token?: string;
  /** Timestamps and `RateLimit-Reset` come from it. */
  clock?: Clock;
  /** Polls of `GET /actions/{id}` after which a running action succeeds. Default 2. */
  actionPolls?: number;
  /** DNS zones of the project, by name; primary mode unless said otherwise. */
  zones?: (string | { name: string; mode: 'primary' | 'secondary' })[];
}

export interface HetznerDouble {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:43123/v1`. */
  readonly url: string;
  readonly token: string;
  /** Every authenticated request, in order. */
  readonly requests: RecordedRequest[];
  /** Every resource that exists, optionally filtered by a label selector. */
  list(labelSelector?: string): DoubleResource[];
  failNth(fault: FaultSpec): void;
  /** Answer the nth matching call with 429 `rate_limit_exceeded` and RateLimit headers. */
  rateLimitNth(spec: { method: FaultSpec['method']; route: string; nth?: number; times?: number; resetInSeconds?: number }): void;
  /** Actions with this command stay `running` until `clearFaults`. */
  stallActions(command: string): void;
  /** Actions with this command end in `error` with this error. */
  failActions(command: string, error: { code: string; message: string }): void;
  clearFaults(): void;
  close(): Promise<void>;
}

type Fault = FaultSpec & { seen: number; resetInSeconds?: number };

interface ActionRec {
  id: number;
  command: string;
  status: 'running' | 'success' | 'error';
  progress: number;
  started: string;
  finished: string | null;
  resources: { id: number; type: string }[];
  error: { code: string; message: string } | null;
  pollsLeft: number;
  failWith?: { code: string; message: string };
  onSuccess?: () => void;
}
interface NetworkRec {
  id: number;
  name: string;
  labels: Labels;
  created: string;
  ipRange: string;
  subnets: { type: string; ip_range: string; network_zone: string; gateway: string; vswitch_id?: number }[];
  routes: { destination: string; gateway: string }[];
}
interface RuleRec {
  direction: string;
  protocol: string;
  port: string | null;
  source_ips: string[];
  destination_ips: string[];
  description: string | null;
}
type ApplyTo = { type: 'server'; server: { id: number } } | { type: 'label_selector'; label_selector: { selector: string } };
interface FirewallRec {
  id: number;
  name: string;
  labels: Labels;
  created: string;
  rules: RuleRec[];
  applyTo: ApplyTo[];
}
interface ServerRec {
  id: number;
  name: string;
  labels: Labels;
  created: string;
  status: string;
  serverType: string;
  image: string;
  location: string;
  privateNet: { network: number; ip: string }[];
  ipv4: string;
}
interface ZoneRec {
  id: number;
  name: string;
  mode: 'primary' | 'secondary';
  labels: Labels;
  created: string;
}
interface RrsetRec {
  /** `{name}/{type}`, unique within its zone. */
  id: string;
  zone: number;
  name: string;
  type: string;
  ttl: number | null;
  labels: Labels;
  records: { value: string; comment: string | null }[];
}
interface VolumeRec {
  id: number;
  name: string;
  labels: Labels;
  created: string;
  size: number;
  location: string;
  server: number | null;
  format: string | null;
  status: string;
}

const LOCATIONS: Record<string, { id: number; network_zone: string; city: string; country: string }> = {
  fsn1: { id: 1, network_zone: 'eu-central', city: 'Falkenstein', country: 'DE' },
  nbg1: { id: 2, network_zone: 'eu-central', city: 'Nuremberg', country: 'DE' },
  hel1: { id: 3, network_zone: 'eu-central', city: 'Helsinki', country: 'FI' },
  ash: { id: 4, network_zone: 'us-east', city: 'Ashburn, VA', country: 'US' },
  hil: { id: 5, network_zone: 'us-west', city: 'Hillsboro, OR', country: 'US' },
  sin: { id: 6, network_zone: 'ap-southeast', city: 'Singapore', country: 'SG' },
};
const NETWORK_ZONES = new Set(Object.values(LOCATIONS).map((l) => l.network_zone));
const PROTOCOLS = new Set(['tcp', 'udp', 'icmp', 'esp', 'gre']);
// Documented: "This field is limited to 32KiB."
const USER_DATA_MAX_BYTES = 32 * 1024;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
  }
}

const invalidInput = (p: Problems) => new ApiError(400, 'invalid_input', p.toMessage(), p.toDetails());
const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
const routeOf = (path: string) =>
  path
    .replace(/^\/zones\/[^/]+/, '/zones/{id_or_name}')
    .replace(/\/rrsets\/[^/]+\/[^/]+/, '/rrsets/{rr_name}/{rr_type}')
    .replace(/\/\d+(?=\/|$)/g, '/{id}');
const RRSET_TYPES = new Set(['A', 'AAAA', 'CAA', 'CNAME', 'DS', 'HINFO', 'HTTPS', 'MX', 'NS', 'PTR', 'RP', 'SOA', 'SRV', 'SVCB', 'TLSA', 'TXT']);
// Lower case labels of letters, digits, `-` and `_` (and a leading `*` label), no trailing dot.
const RRSET_NAME = /^(@|(\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*)$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export async function startHetznerDouble(options: HetznerDoubleOptions = {}): Promise<HetznerDouble> {
  const token = options.token ?? 'test-token';
  const clock = options.clock ?? systemClock;
  const actionPolls = options.actionPolls ?? 2;

  let nextId = 1000;
  const networks = new Map<number, NetworkRec>();
  const firewalls = new Map<number, FirewallRec>();
  const servers = new Map<number, ServerRec>();
  const volumes = new Map<number, VolumeRec>();
  const zones = new Map<number, ZoneRec>();
  const rrsets: RrsetRec[] = [];
  const actions = new Map<number, ActionRec>();
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const stalled = new Set<string>();
  const failing = new Map<string, { code: string; message: string }>();

  const now = () => clock.now().toISOString();
  const newId = () => nextId++;
  for (const z of options.zones ?? []) {
    const zone = typeof z === 'string' ? { name: z, mode: 'primary' as const } : z;
    const id = newId();
    zones.set(id, { id, name: zone.name, mode: zone.mode, labels: {}, created: now() });
  }

  function newAction(command: string, resources: { id: number; type: string }[], onSuccess?: () => void): ActionRec {
    const action: ActionRec = {
      id: newId(),
      command,
      status: 'running',
      progress: 0,
      started: now(),
      finished: null,
      resources,
      error: null,
      pollsLeft: actionPolls,
      failWith: failing.get(command),
      onSuccess,
    };
    actions.set(action.id, action);
    return action;
  }

  function advance(action: ActionRec): void {
    // Looked up on every poll, so a test can stall an action and later let it finish.
    if (action.status !== 'running' || stalled.has(action.command)) return;
    action.pollsLeft -= 1;
    action.progress = Math.min(99, action.progress + 50);
    if (action.pollsLeft > 0) return;
    action.progress = 100;
    action.finished = now();
    if (action.failWith) {
      action.status = 'error';
      action.error = action.failWith;
    } else {
      action.status = 'success';
      action.onSuccess?.();
    }
  }

  const actionJson = (a: ActionRec) => ({
    id: a.id,
    command: a.command,
    status: a.status,
    progress: a.progress,
    started: a.started,
    finished: a.finished,
    resources: a.resources,
    error: a.error,
  });

  const locationJson = (name: string) => {
    const l = LOCATIONS[name];
    return { id: l.id, name, description: `${l.city} DC`, country: l.country, city: l.city, latitude: 0, longitude: 0, network_zone: l.network_zone };
  };

  const networkJson = (n: NetworkRec) => ({
    id: n.id,
    name: n.name,
    ip_range: n.ipRange,
    subnets: n.subnets,
    routes: n.routes,
    servers: [...servers.values()].filter((s) => s.privateNet.some((p) => p.network === n.id)).map((s) => s.id),
    load_balancers: [],
    protection: { delete: false },
    labels: n.labels,
    created: n.created,
    expose_routes_to_vswitch: false,
  });

  const serversOfFirewall = (f: FirewallRec): number[] => {
    const ids = new Set<number>();
    for (const a of f.applyTo) {
      if (a.type === 'server') ids.add(a.server.id);
      else {
        const terms = parseLabelSelector(a.label_selector.selector);
        for (const s of servers.values()) if (matchesSelector(s.labels, terms)) ids.add(s.id);
      }
    }
    return [...ids].filter((id) => servers.has(id));
  };

  const firewallJson = (f: FirewallRec) => ({
    id: f.id,
    name: f.name,
    labels: f.labels,
    created: f.created,
    rules: f.rules,
    applied_to: f.applyTo.map((a) =>
      a.type === 'server'
        ? a
        : {
            ...a,
            applied_to_resources: serversOfFirewall({ ...f, applyTo: [a] }).map((id) => ({ type: 'server', server: { id } })),
          },
    ),
  });

  const serverJson = (s: ServerRec) => ({
    id: s.id,
    name: s.name,
    status: s.status,
    created: s.created,
    public_net: {
      ipv4: { ip: s.ipv4, blocked: false, dns_ptr: `static.${s.ipv4}.clients.your-server.de` },
      ipv6: null,
      floating_ips: [],
      firewalls: [...firewalls.values()].filter((f) => serversOfFirewall(f).includes(s.id)).map((f) => ({ id: f.id, status: 'applied' })),
    },
    private_net: s.privateNet.map((p) => ({ ...p, alias_ips: [], mac_address: '86:00:00:00:00:01' })),
    server_type: { name: s.serverType },
    datacenter: { name: `${s.location}-dc1`, location: locationJson(s.location) },
    image: { name: s.image },
    iso: null,
    rescue_enabled: false,
    locked: false,
    backup_window: null,
    outgoing_traffic: 0,
    ingoing_traffic: 0,
    included_traffic: 21990232555520,
    protection: { delete: false, rebuild: false },
    labels: s.labels,
    volumes: [...volumes.values()].filter((v) => v.server === s.id).map((v) => v.id),
    load_balancers: [],
    primary_disk_size: 40,
  });

  const volumeJson = (v: VolumeRec) => ({
    id: v.id,
    name: v.name,
    server: v.server,
    status: v.status,
    location: locationJson(v.location),
    size: v.size,
    format: v.format,
    linux_device: `/dev/disk/by-id/scsi-0HC_Volume_${v.id}`,
    protection: { delete: false },
    labels: v.labels,
    created: v.created,
  });

  const all = (): DoubleResource[] => [
    ...[...servers.values()].map((r) => ({ kind: 'server' as const, id: r.id, name: r.name, labels: r.labels })),
    ...[...volumes.values()].map((r) => ({ kind: 'volume' as const, id: r.id, name: r.name, labels: r.labels })),
    ...[...firewalls.values()].map((r) => ({ kind: 'firewall' as const, id: r.id, name: r.name, labels: r.labels })),
    ...[...networks.values()].map((r) => ({ kind: 'network' as const, id: r.id, name: r.name, labels: r.labels })),
    ...rrsets.map((r) => ({ kind: 'rrset' as const, id: r.id, name: r.name, labels: r.labels })),
  ];

  const zoneJson = (z: ZoneRec) => ({
    id: z.id,
    name: z.name,
    created: z.created,
    mode: z.mode,
    ttl: 3600,
    labels: z.labels,
    protection: { delete: false },
    status: 'ok',
    record_count: rrsets.filter((r) => r.zone === z.id).reduce((n, r) => n + r.records.length, 0),
    registrar: 'other',
    primary_nameservers: [],
    authoritative_nameservers: { assigned: ['hydrogen.ns.hetzner.com.', 'oxygen.ns.hetzner.com.', 'helium.ns.hetzner.de.'], delegated: [], delegation_last_check: null, delegation_status: 'unknown' },
  });

  const rrsetJson = (r: RrsetRec) => ({
    id: r.id,
    name: r.name,
    type: r.type,
    ttl: r.ttl,
    labels: r.labels,
    protection: { change: false },
    records: r.records,
    zone: r.zone,
  });

  // ---- request helpers ----------------------------------------------------------------------

  async function readBody(c: Context): Promise<Json> {
    const text = await c.req.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'json_error', 'invalid JSON in request body');
    }
    if (!isObject(body)) {
      const p = new Problems();
      p.add('body', 'must be a JSON object');
      throw invalidInput(p);
    }
    c.set('body', body);
    return body;
  }

  function list<T extends { id: number | string; name: string; labels: Labels }>(c: Context, items: Iterable<T>, key: string, toJson: (item: T) => unknown) {
    const p = new Problems();
    const q = c.req.query();
    let selected = [...items].sort((a, b) => (typeof a.id === 'number' && typeof b.id === 'number' ? a.id - b.id : String(a.id).localeCompare(String(b.id))));
    if (q.name !== undefined) selected = selected.filter((i) => i.name === q.name);
    if (q.label_selector !== undefined) {
      try {
        const terms = parseLabelSelector(q.label_selector);
        selected = selected.filter((i) => matchesSelector(i.labels, terms));
      } catch (err) {
        if (!(err instanceof LabelSelectorError)) throw err;
        p.add('label_selector', err.message);
      }
    }
    const page = q.page === undefined ? 1 : Number(q.page);
    const perPage = q.per_page === undefined ? 25 : Number(q.per_page);
    if (!Number.isInteger(page) || page < 1) p.add('page', 'must be a whole number of at least 1');
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 50) p.add('per_page', 'must be a whole number between 1 and 50');
    if (!p.empty) throw invalidInput(p);
    const total = selected.length;
    const lastPage = Math.max(1, Math.ceil(total / perPage));
    return c.json({
      [key]: selected.slice((page - 1) * perPage, page * perPage).map(toJson),
      meta: {
        pagination: {
          page,
          per_page: perPage,
          previous_page: page > 1 ? page - 1 : null,
          next_page: page < lastPage ? page + 1 : null,
          last_page: lastPage,
          total_entries: total,
        },
      },
    });
  }

  const idParam = (c: Context): number => {
    const id = Number(c.req.param('id'));
    if (!Number.isSafeInteger(id)) throw notFound('resource');
    return id;
  };

  function ensureUniqueName(kind: string, existing: Iterable<{ name: string }>, name: string | undefined): void {
    if (name !== undefined && [...existing].some((r) => r.name === name)) {
      throw new ApiError(409, 'uniqueness_error', `${kind} name is already used`, { fields: [{ name: 'name' }] });
    }
  }

  function runningActionsOf(type: string, id: number) {
    return [...actions.values()].filter((a) => a.status === 'running' && a.resources.some((r) => r.type === type && r.id === id));
  }

  // ---- app ----------------------------------------------------------------------------------

  const app = new Hono<{ Variables: { body: Json } }>().basePath('/v1');

  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json({ error: { code: err.code, message: err.message, details: err.details } }, err.status as ContentfulStatusCode);
    return c.json({ error: { code: 'server_error', message: String(err), details: null } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: 'not_found', message: 'not found', details: null } }, 404));

  app.use('*', async (c, next) => {
    const auth = c.req.header('authorization');
    if (auth !== `Bearer ${token}`) {
      return c.json({ error: { code: 'unauthorized', message: 'unable to authenticate', details: null } }, 401);
    }
    const path = c.req.path.replace(/^\/v1/, '');
    const route = routeOf(path);
    const record: RecordedRequest = { method: c.req.method, path, route, query: c.req.query(), status: 0 };
    requests.push(record);

    // Every matching fault counts the call; the first one whose turn it is answers.
    let fault: Fault | undefined;
    for (const f of faults) {
      if (f.method !== c.req.method || f.route !== route) continue;
      f.seen += 1;
      const nth = f.nth ?? 1;
      if (!fault && f.seen >= nth && f.seen < nth + (f.times ?? 1)) fault = f;
    }
    const faultResponse = (f: Fault) => {
      const headers = { ...f.headers };
      if (f.resetInSeconds !== undefined) headers['RateLimit-Reset'] = String(Math.ceil(clock.now().getTime() / 1000) + f.resetInSeconds);
      return c.json({ error: { code: f.code, message: f.message ?? `injected ${f.code}`, details: f.details ?? null } }, f.status as ContentfulStatusCode, headers);
    };

    if (fault && !fault.afterCommit) {
      c.res = faultResponse(fault);
    } else {
      await next();
      c.res.headers.set('RateLimit-Limit', '3600');
      c.res.headers.set('RateLimit-Remaining', '3599');
      c.res.headers.set('RateLimit-Reset', String(Math.ceil(clock.now().getTime() / 1000) + 1));
      if (fault) c.res = faultResponse(fault);
    }
    record.body = c.get('body');
    record.status = c.res.status;
  });

  // ---- actions ----

  app.get('/actions/:id', (c) => {
    const action = actions.get(idParam(c));
    if (!action) throw notFound('action');
    advance(action);
    return c.json({ action: actionJson(action) });
  });

  for (const [type, path] of [
    ['server', '/servers'],
    ['network', '/networks'],
    ['firewall', '/firewalls'],
    ['volume', '/volumes'],
  ] as const) {
    app.get(`${path}/:id/actions`, (c) => {
      const id = idParam(c);
      const exists = type === 'server' ? servers.has(id) : type === 'network' ? networks.has(id) : type === 'firewall' ? firewalls.has(id) : volumes.has(id);
      if (!exists) throw notFound(type);
      const status = c.req.query('status');
      const mine = [...actions.values()].filter((a) => a.resources.some((r) => r.type === type && r.id === id) && (status === undefined || a.status === status));
      return c.json({
        actions: mine.map(actionJson),
        meta: { pagination: { page: 1, per_page: 25, previous_page: null, next_page: null, last_page: 1, total_entries: mine.length } },
      });
    });
  }

  // ---- networks ----

  app.get('/networks', (c) => list(c, networks.values(), 'networks', networkJson));
  app.get('/networks/:id', (c) => {
    const n = networks.get(idParam(c));
    if (!n) throw notFound('network');
    return c.json({ network: networkJson(n) });
  });
  app.post('/networks', async (c) => {
    const body = await readBody(c);
    const p = new Problems();
    const name = requireString(body, 'name', p);
    const ipRange = requireString(body, 'ip_range', p);
    const labels = optionalLabels(body, p);
    const range = ipRange === undefined ? undefined : parseCidr4(ipRange);
    if (ipRange !== undefined && !range) p.add('ip_range', 'is not a valid IPv4 CIDR');
    else if (range && !isRfc1918(range)) p.add('ip_range', 'must be one of the private IPv4 ranges of RFC1918');
    else if (range && range[1] > 24) p.add('ip_range', 'minimum network size is /24');
    const subnets: NetworkRec['subnets'] = [];
    (optionalArray(body, 'subnets', p) ?? []).forEach((raw, i) => {
      const field = `subnets[${i}]`;
      if (!isObject(raw)) return p.add(field, 'must be an object');
      const type = requireString(raw, 'type', p, `${field}.type`);
      const zone = requireString(raw, 'network_zone', p, `${field}.network_zone`);
      const subRange = optionalString(raw, 'ip_range', p, `${field}.ip_range`);
      if (type !== undefined && !['cloud', 'server', 'vswitch'].includes(type)) p.add(`${field}.type`, 'must be one of cloud, server, vswitch');
      if (zone !== undefined && !NETWORK_ZONES.has(zone)) p.add(`${field}.network_zone`, `unknown network zone '${zone}'`);
      if (type === 'vswitch' && !isInteger(raw.vswitch_id)) p.add(`${field}.vswitch_id`, 'is required for subnets of type vswitch');
      const sub = subRange === undefined ? undefined : parseCidr4(subRange);
      if (subRange !== undefined && !sub) p.add(`${field}.ip_range`, 'is not a valid IPv4 CIDR');
      else if (sub && range && !cidrContains(range, sub)) p.add(`${field}.ip_range`, 'must be a subnet of the network ip_range');
      else if (sub && sub[1] > 30) p.add(`${field}.ip_range`, 'minimum subnet size is /30');
      if (type && zone && range) {
        const chosen = sub ?? [range[0] + subnets.length * 256, 24];
        subnets.push({ type, ip_range: `${formatIp4(chosen[0])}/${chosen[1]}`, network_zone: zone, gateway: formatIp4(range[0] + 1) });
      }
    });
    const routes: NetworkRec['routes'] = [];
    (optionalArray(body, 'routes', p) ?? []).forEach((raw, i) => {
      if (!isObject(raw)) return p.add(`routes[${i}]`, 'must be an object');
      const destination = requireString(raw, 'destination', p, `routes[${i}].destination`);
      const gateway = requireString(raw, 'gateway', p, `routes[${i}].gateway`);
      if (destination && gateway) routes.push({ destination, gateway });
    });
    if (!p.empty || name === undefined || ipRange === undefined) throw invalidInput(p);
    ensureUniqueName('network', networks.values(), name);
    const network: NetworkRec = { id: newId(), name, labels, created: now(), ipRange, subnets, routes };
    networks.set(network.id, network);
    return c.json({ network: networkJson(network) }, 201);
  });
  app.delete('/networks/:id', (c) => {
    const id = idParam(c);
    if (!networks.delete(id)) throw notFound('network');
    // Documented: attached servers are detached in the background.
    for (const s of servers.values()) s.privateNet = s.privateNet.filter((n) => n.network !== id);
    return c.body(null, 204);
  });

  // ---- firewalls ----

  function readRules(body: Json, p: Problems): RuleRec[] {
    const rules: RuleRec[] = [];
    (optionalArray(body, 'rules', p) ?? []).forEach((raw, i) => {
      const field = `rules[${i}]`;
      if (!isObject(raw)) return p.add(field, 'must be an object');
      const direction = requireString(raw, 'direction', p, `${field}.direction`);
      const protocol = requireString(raw, 'protocol', p, `${field}.protocol`);
      const port = optionalString(raw, 'port', p, `${field}.port`);
      const description = optionalString(raw, 'description', p, `${field}.description`);
      const ips = (key: 'source_ips' | 'destination_ips'): string[] => {
        const value = raw[key];
        if (value === undefined || value === null) return [];
        if (!Array.isArray(value) || value.some((x) => typeof x !== 'string' || !isCidr(x))) {
          p.add(`${field}.${key}`, 'must be an array of CIDRs');
          return [];
        }
        if (value.length > 100) p.add(`${field}.${key}`, 'at most 100 CIDRs');
        return value as string[];
      };
      const sourceIps = ips('source_ips');
      const destinationIps = ips('destination_ips');
      if (direction !== undefined && direction !== 'in' && direction !== 'out') p.add(`${field}.direction`, 'must be in or out');
      if (protocol !== undefined && !PROTOCOLS.has(protocol)) p.add(`${field}.protocol`, 'must be one of tcp, udp, icmp, esp, gre');
      if ((protocol === 'tcp' || protocol === 'udp') && port === undefined) p.add(`${field}.port`, 'is required for tcp and udp');
      if (protocol !== undefined && protocol !== 'tcp' && protocol !== 'udp' && port !== undefined) p.add(`${field}.port`, 'is only allowed for tcp and udp');
      if (port !== undefined && !/^(\d{1,5})(-\d{1,5})?$/.test(port)) p.add(`${field}.port`, 'must be a port or a range like 1024-5000');
      if (direction === 'in' && sourceIps.length === 0) p.add(`${field}.source_ips`, 'is required for direction in');
      if (direction === 'out' && destinationIps.length === 0) p.add(`${field}.destination_ips`, 'is required for direction out');
      if (description !== undefined && description.length > 255) p.add(`${field}.description`, 'is too long');
      if (direction && protocol) rules.push({ direction, protocol, port: port ?? null, source_ips: sourceIps, destination_ips: destinationIps, description: description ?? null });
    });
    return rules;
  }

  app.get('/firewalls', (c) => list(c, firewalls.values(), 'firewalls', firewallJson));
  app.get('/firewalls/:id', (c) => {
    const f = firewalls.get(idParam(c));
    if (!f) throw notFound('firewall');
    return c.json({ firewall: firewallJson(f) });
  });
  app.post('/firewalls', async (c) => {
    const body = await readBody(c);
    const p = new Problems();
    const name = requireString(body, 'name', p);
    const labels = optionalLabels(body, p);
    const rules = readRules(body, p);
    const applyTo: ApplyTo[] = [];
    (optionalArray(body, 'apply_to', p) ?? []).forEach((raw, i) => {
      const field = `apply_to[${i}]`;
      if (!isObject(raw)) return p.add(field, 'must be an object');
      const type = requireString(raw, 'type', p, `${field}.type`);
      if (type === 'server') {
        const server = raw.server;
        if (!isObject(server) || !isInteger(server.id)) return p.add(`${field}.server`, 'is required for type server');
        if (!servers.has(server.id)) return p.add(`${field}.server`, `server ${server.id} not found`);
        applyTo.push({ type: 'server', server: { id: server.id } });
      } else if (type === 'label_selector') {
        const sel = raw.label_selector;
        if (!isObject(sel) || typeof sel.selector !== 'string') return p.add(`${field}.label_selector`, 'is required for type label_selector');
        try {
          parseLabelSelector(sel.selector);
        } catch (err) {
          return p.add(`${field}.label_selector.selector`, err instanceof Error ? err.message : 'is invalid');
        }
        applyTo.push({ type: 'label_selector', label_selector: { selector: sel.selector } });
      } else if (type !== undefined) p.add(`${field}.type`, 'must be server or label_selector');
    });
    if (!p.empty || name === undefined) throw invalidInput(p);
    ensureUniqueName('firewall', firewalls.values(), name);
    const firewall: FirewallRec = { id: newId(), name, labels, created: now(), rules, applyTo };
    firewalls.set(firewall.id, firewall);
    const created = [newAction('set_firewall_rules', [{ id: firewall.id, type: 'firewall' }])];
    for (const sid of serversOfFirewall(firewall)) {
      created.push(newAction('apply_firewall', [{ id: sid, type: 'server' }, { id: firewall.id, type: 'firewall' }]));
    }
    return c.json({ firewall: firewallJson(firewall), actions: created.map(actionJson) }, 201);
  });
  app.delete('/firewalls/:id', (c) => {
    const f = firewalls.get(idParam(c));
    if (!f) throw notFound('firewall');
    if (serversOfFirewall(f).length > 0) throw new ApiError(409, 'resource_in_use', 'firewall must not be in use to be deleted');
    firewalls.delete(f.id);
    return c.body(null, 204);
  });

  // ---- servers ----

  app.get('/servers', (c) => list(c, servers.values(), 'servers', serverJson));
  app.get('/servers/:id', (c) => {
    const s = servers.get(idParam(c));
    if (!s) throw notFound('server');
    return c.json({ server: serverJson(s) });
  });
  app.post('/servers', async (c) => {
    const body = await readBody(c);
    const p = new Problems();
    const name = requireString(body, 'name', p);
    if (name !== undefined && !HOSTNAME.test(name)) p.add('name', 'must be a valid hostname as per RFC 1123');
    const idOrName = (field: string): string | undefined => {
      const value = body[field];
      if (typeof value === 'string' && value.length > 0) return value;
      if (isInteger(value)) return String(value);
      p.add(field, value === undefined ? 'is missing' : 'must be an ID or a name');
      return undefined;
    };
    const serverType = idOrName('server_type');
    const image = idOrName('image');
    const location = optionalString(body, 'location', p);
    const datacenter = optionalString(body, 'datacenter', p);
    if (location !== undefined && datacenter !== undefined) p.add('location', 'must not be used together with datacenter');
    const where = location ?? datacenter?.replace(/-dc\d+$/, '') ?? 'fsn1';
    if (!LOCATIONS[where]) p.add(location !== undefined ? 'location' : 'datacenter', `unknown location '${where}'`);
    const userData = optionalString(body, 'user_data', p);
    if (userData !== undefined && new TextEncoder().encode(userData).length > USER_DATA_MAX_BYTES) p.add('user_data', 'is limited to 32KiB');
    const labels = optionalLabels(body, p);
    const startAfterCreate = optionalBoolean(body, 'start_after_create', p) ?? true;
    optionalBoolean(body, 'automount', p);
    const networkIds: number[] = [];
    (optionalArray(body, 'networks', p) ?? []).forEach((raw, i) => {
      if (!isInteger(raw)) return p.add(`networks[${i}]`, 'must be a network ID');
      if (!networks.has(raw)) return p.add(`networks[${i}]`, `network ${raw} not found`);
      networkIds.push(raw);
    });
    const firewallIds: number[] = [];
    (optionalArray(body, 'firewalls', p) ?? []).forEach((raw, i) => {
      if (!isObject(raw) || !isInteger(raw.firewall)) return p.add(`firewalls[${i}].firewall`, 'must be a firewall ID');
      if (!firewalls.has(raw.firewall)) return p.add(`firewalls[${i}].firewall`, `firewall ${raw.firewall} not found`);
      firewallIds.push(raw.firewall);
    });
    for (const field of ['ssh_keys', 'volumes']) optionalArray(body, field, p);
    if (!p.empty || name === undefined || serverType === undefined || image === undefined) throw invalidInput(p);
    ensureUniqueName('server', servers.values(), name);

    const id = newId();
    const privateNet = networkIds.map((nid) => {
      const network = networks.get(nid) as NetworkRec;
      const subnet = parseCidr4(network.subnets[0]?.ip_range ?? network.ipRange) as [number, number];
      const taken = [...servers.values()].filter((s) => s.privateNet.some((n) => n.network === nid)).length;
      return { network: nid, ip: formatIp4(subnet[0] + 2 + taken) };
    });
    const server: ServerRec = {
      id,
      name,
      labels,
      created: now(),
      status: 'initializing',
      serverType,
      image,
      location: where,
      privateNet,
      ipv4: `203.0.113.${(id % 250) + 1}`,
    };
    servers.set(id, server);
    for (const fid of firewallIds) firewalls.get(fid)?.applyTo.push({ type: 'server', server: { id } });
    const ref = [{ id, type: 'server' }];
    const create = newAction('create_server', ref, () => {
      if (!startAfterCreate) server.status = 'off';
    });
    const next = startAfterCreate
      ? [
          newAction('start_server', ref, () => {
            server.status = 'running';
          }),
        ]
      : [];
    for (const nid of networkIds) next.push(newAction('attach_to_network', [...ref, { id: nid, type: 'network' }]));
    return c.json({ server: serverJson(server), action: actionJson(create), next_actions: next.map(actionJson), root_password: null }, 201);
  });
  app.delete('/servers/:id', (c) => {
    const s = servers.get(idParam(c));
    if (!s) throw notFound('server');
    // Documented: the server is removed from the account immediately; the action tracks the rest.
    servers.delete(s.id);
    for (const v of volumes.values()) if (v.server === s.id) v.server = null;
    for (const f of firewalls.values()) f.applyTo = f.applyTo.filter((a) => a.type !== 'server' || a.server.id !== s.id);
    return c.json({ action: actionJson(newAction('delete_server', [{ id: s.id, type: 'server' }])) });
  });

  // ---- volumes ----

  app.get('/volumes', (c) => list(c, volumes.values(), 'volumes', volumeJson));
  app.get('/volumes/:id', (c) => {
    const v = volumes.get(idParam(c));
    if (!v) throw notFound('volume');
    return c.json({ volume: volumeJson(v) });
  });
  app.post('/volumes', async (c) => {
    const body = await readBody(c);
    const p = new Problems();
    const name = requireString(body, 'name', p);
    if (name !== undefined && !VOLUME_NAME.test(name)) p.add('name', 'may contain alphanumerics, dashes, underscores and dots, start and end alphanumeric, at most 64 characters');
    const size = body.size;
    if (size === undefined) p.add('size', 'is missing');
    else if (!isInteger(size)) p.add('size', 'must be an integer');
    else if (size < 10 || size > 10240) p.add('size', 'must be between 10 and 10240 GB');
    const location = optionalString(body, 'location', p);
    const serverId = body.server;
    let server: ServerRec | undefined;
    if (serverId !== undefined && serverId !== null) {
      if (!isInteger(serverId)) p.add('server', 'must be a server ID');
      else if (!(server = servers.get(serverId))) p.add('server', `server ${serverId} not found`);
    }
    if (location === undefined && serverId === undefined) p.add('location', 'is required when no server is given');
    if (location !== undefined && !LOCATIONS[location]) p.add('location', `unknown location '${location}'`);
    const automount = optionalBoolean(body, 'automount', p);
    if (automount !== undefined && serverId === undefined) p.add('automount', '`server` must be provided');
    const format = optionalString(body, 'format', p);
    if (format !== undefined && format !== 'xfs' && format !== 'ext4') p.add('format', 'must be xfs or ext4');
    const labels = optionalLabels(body, p);
    if (!p.empty || name === undefined || !isInteger(size)) throw invalidInput(p);
    ensureUniqueName('volume', volumes.values(), name);
    const volume: VolumeRec = {
      id: newId(),
      name,
      labels,
      created: now(),
      size,
      location: server?.location ?? (location as string),
      server: null,
      format: format ?? null,
      status: 'creating',
    };
    volumes.set(volume.id, volume);
    const ref = [{ id: volume.id, type: 'volume' }];
    const create = newAction('create_volume', ref, () => {
      volume.status = 'available';
    });
    const next = server ? [newAction('attach_volume', [...ref, { id: server.id, type: 'server' }])] : [];
    if (server) volume.server = server.id;
    return c.json({ volume: volumeJson(volume), action: actionJson(create), next_actions: next.map(actionJson) }, 201);
  });
  app.post('/volumes/:id/actions/attach', async (c) => {
    const v = volumes.get(idParam(c));
    if (!v) throw notFound('volume');
    const body = await readBody(c);
    const p = new Problems();
    const sid = body.server;
    if (sid === undefined) p.add('server', 'is missing');
    else if (!isInteger(sid)) p.add('server', 'must be a server ID');
    optionalBoolean(body, 'automount', p);
    if (!p.empty || !isInteger(sid)) throw invalidInput(p);
    const server = servers.get(sid);
    if (!server) throw notFound('server');
    if (server.location !== v.location) {
      p.add('server', 'server must be in the same location as the volume');
      throw invalidInput(p);
    }
    if (runningActionsOf('volume', v.id).length > 0) throw new ApiError(423, 'locked', 'volume is locked: an action is running');
    if (v.server !== null) throw new ApiError(409, 'volume_already_attached', 'volume is already attached to a server, detach first');
    v.server = sid;
    return c.json({ action: actionJson(newAction('attach_volume', [{ id: v.id, type: 'volume' }, { id: sid, type: 'server' }])) }, 201);
  });
  app.post('/volumes/:id/actions/detach', async (c) => {
    const v = volumes.get(idParam(c));
    if (!v) throw notFound('volume');
    const ref = v.server === null ? [] : [{ id: v.server, type: 'server' }];
    v.server = null;
    return c.json({ action: actionJson(newAction('detach_volume', [{ id: v.id, type: 'volume' }, ...ref])) }, 201);
  });
  app.delete('/volumes/:id', (c) => {
    const v = volumes.get(idParam(c));
    if (!v) throw notFound('volume');
    if (v.server !== null) throw new ApiError(409, 'service_error', `volume with ID '${v.id}' is still attached to a server`);
    volumes.delete(v.id);
    return c.body(null, 204);
  });

  // ---- DNS: zones and RRSets ----

  /** The zone of `:zone` (ID or name); RRSet routes need one in primary mode. */
  const zoneParam = (c: Context, opts: { primary?: boolean } = {}): ZoneRec => {
    const ref = c.req.param('zone') ?? '';
    const zone = /^\d+$/.test(ref) ? zones.get(Number(ref)) : [...zones.values()].find((z) => z.name === ref.toLowerCase());
    if (!zone) throw notFound('zone');
    if (opts.primary && zone.mode !== 'primary') throw new ApiError(422, 'incorrect_zone_mode', "This operation is not supported for this Zone's mode.");
    return zone;
  };
  const rrsetParam = (c: Context, zone: ZoneRec): RrsetRec => {
    const found = rrsets.find((r) => r.zone === zone.id && r.name === c.req.param('name') && r.type === c.req.param('type'));
    if (!found) throw notFound('rrset');
    return found;
  };

  function readRecords(body: Json, type: string | undefined, p: Problems): RrsetRec['records'] {
    const out: RrsetRec['records'] = [];
    const raw = body.records;
    if (!Array.isArray(raw)) {
      p.add('records', raw === undefined ? 'is missing' : 'must be an array');
      return out;
    }
    if (raw.length === 0) p.add('records', 'must contain at least one record');
    raw.forEach((rec, i) => {
      if (!isObject(rec)) return p.add(`records[${i}]`, 'must be an object');
      const value = requireString(rec, 'value', p, `records[${i}].value`);
      const comment = optionalString(rec, 'comment', p, `records[${i}].comment`);
      if (value !== undefined && type === 'A' && !IPV4.test(value)) p.add(`records[${i}].value`, 'must be an IPv4 address for type A');
      if (value !== undefined) out.push({ value, comment: comment ?? null });
    });
    return out;
  }

  app.get('/zones', (c) => list(c, zones.values(), 'zones', zoneJson));
  app.get('/zones/:zone', (c) => c.json({ zone: zoneJson(zoneParam(c)) }));
  app.get('/zones/:zone/rrsets', (c) => {
    const zone = zoneParam(c, { primary: true });
    const types = c.req.queries('type') ?? [];
    return list(c, rrsets.filter((r) => r.zone === zone.id && (types.length === 0 || types.includes(r.type))), 'rrsets', rrsetJson);
  });
  app.get('/zones/:zone/rrsets/:name/:type', (c) => {
    const zone = zoneParam(c, { primary: true });
    return c.json({ rrset: rrsetJson(rrsetParam(c, zone)) });
  });
  app.post('/zones/:zone/rrsets', async (c) => {
    const zone = zoneParam(c, { primary: true });
    const body = await readBody(c);
    const p = new Problems();
    const name = requireString(body, 'name', p);
    if (name !== undefined) {
      if (name.endsWith('.') || name === zone.name || name.endsWith(`.${zone.name}`)) p.add('name', 'must not end with a dot or the zone name');
      else if (!RRSET_NAME.test(name)) p.add('name', 'must be a lower-case name relative to the zone, or @ for the apex');
    }
    const type = requireString(body, 'type', p);
    if (type !== undefined && !RRSET_TYPES.has(type)) p.add('type', `must be one of ${[...RRSET_TYPES].join(', ')}`);
    const ttl = body.ttl;
    if (ttl !== undefined && ttl !== null && (!isInteger(ttl) || ttl < 60 || ttl > 2147483647)) p.add('ttl', 'must be a whole number of seconds from 60');
    const labels = optionalLabels(body, p);
    const records = readRecords(body, type, p);
    if (!p.empty || name === undefined || type === undefined) throw invalidInput(p);
    if (rrsets.some((r) => r.zone === zone.id && r.name === name && r.type === type)) {
      throw new ApiError(409, 'uniqueness_error', 'rrset with this name and type already exists', { fields: [{ name: 'name' }, { name: 'type' }] });
    }
    const rrset: RrsetRec = { id: `${name}/${type}`, zone: zone.id, name, type, ttl: isInteger(ttl) ? ttl : null, labels, records };
    rrsets.push(rrset);
    return c.json({ rrset: rrsetJson(rrset), action: actionJson(newAction('create_rrset', [{ id: zone.id, type: 'zone' }])) }, 201);
  });
  app.post('/zones/:zone/rrsets/:name/:type/actions/set_records', async (c) => {
    const zone = zoneParam(c, { primary: true });
    const rrset = rrsetParam(c, zone);
    const body = await readBody(c);
    const p = new Problems();
    const records = readRecords(body, rrset.type, p);
    if (!p.empty) throw invalidInput(p);
    rrset.records = records;
    return c.json({ action: actionJson(newAction('set_rrset_records', [{ id: zone.id, type: 'zone' }])) }, 201);
  });
  app.delete('/zones/:zone/rrsets/:name/:type', (c) => {
    const zone = zoneParam(c, { primary: true });
    const rrset = rrsetParam(c, zone);
    rrsets.splice(rrsets.indexOf(rrset), 1);
    return c.json({ action: actionJson(newAction('delete_rrset', [{ id: zone.id, type: 'zone' }])) });
  });

  // ---- serve ----

  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve({ server: s, port: info.port }));
  });

  return {
    url: `http://127.0.0.1:${port}/v1`,
    token,
    requests,
    list(labelSelector) {
      if (labelSelector === undefined) return all();
      const terms = parseLabelSelector(labelSelector);
      return all().filter((r) => matchesSelector(r.labels, terms));
    },
    failNth(fault) {
      faults.push({ ...fault, seen: 0 });
    },
    rateLimitNth({ method, route, nth, times, resetInSeconds = 2 }) {
      faults.push({
        method,
        route,
        nth,
        times,
        status: 429,
        code: 'rate_limit_exceeded',
        message: 'limit of 3600 requests per hour reached',
        headers: { 'RateLimit-Limit': '3600', 'RateLimit-Remaining': '0' },
        resetInSeconds,
        seen: 0,
      });
    },
    stallActions(command) {
      stalled.add(command);
    },
    failActions(command, error) {
      failing.set(command, error);
    },
    clearFaults() {
      faults.length = 0;
      stalled.clear();
      failing.clear();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
