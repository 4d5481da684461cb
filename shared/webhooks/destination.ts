import ipaddr from 'ipaddr.js';
import type { Env } from '../config/env';
import type { ResolveHost } from './ports';

/**
 * Where webhooks may go (SSRF rules). A destination is refused when its URL is not https (http
 * only with WEBHOOK_ALLOW_HTTP), carries credentials, or its host is — or resolves to — anything
 * but a public unicast address: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
 * link-local (169.254/16, fe80::/10), CGNAT (100.64/10), cloud metadata (169.254.169.254,
 * fd00:ec2::254), multicast, reserved, NAT64/6to4/Teredo wrappers and the like. Hosts in
 * WEBHOOK_ALLOWED_HOSTS skip the address rules (never the scheme rule).
 *
 * The check runs when an endpoint is created or changed, and again before every attempt, whose
 * vetted addresses the Node sender then connects to (so DNS rebinding between check and connect
 * does not help).
 */
export interface DestinationPolicy {
  allowHttp: boolean;
  /** Lower-case host names / IP literals (IPv6 without brackets), matched exactly. */
  allowedHosts: readonly string[];
}

/** The policy the settings describe (WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOWED_HOSTS). */
export function destinationPolicy(env: Env): DestinationPolicy {
  return { allowHttp: env.WEBHOOK_ALLOW_HTTP, allowedHosts: env.WEBHOOK_ALLOWED_HOSTS };
}

export class DestinationRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DestinationRefusedError';
  }
}

/** Longest accepted URL (characters). */
export const MAX_URL_LENGTH = 2048;

/** Metadata services reachable from inside clouds; named so the refusal says why. */
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254', '169.254.170.2', '100.100.100.200']);

const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  private: 'private',
  uniqueLocal: 'private (fc00::/7)',
  linkLocal: 'link-local',
  carrierGradeNat: 'carrier-grade NAT (100.64.0.0/10)',
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  reserved: 'reserved',
  benchmarking: 'benchmarking',
  rfc6052: 'NAT64',
  rfc6145: 'IPv4-translated',
  '6to4': '6to4',
  teredo: 'Teredo',
};

/** Parses and checks the shape of an endpoint URL; throws DestinationRefusedError saying what is wrong. */
export function parseWebhookUrl(raw: string, policy: DestinationPolicy): URL {
  if (raw.length > MAX_URL_LENGTH) throw new DestinationRefusedError(`The URL is longer than ${MAX_URL_LENGTH} characters.`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DestinationRefusedError('The URL is not a valid absolute URL.');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    throw new DestinationRefusedError(policy.allowHttp ? 'Only http and https URLs are accepted.' : 'Only https URLs are accepted.');
  }
  if (url.username || url.password) throw new DestinationRefusedError('The URL must not carry a user name or password; authenticate with the signature.');
  if (!hostOf(url)) throw new DestinationRefusedError('The URL has no host.');
  return url;
}

/** The URL's host as matched against the allow-list: lower-case, no IPv6 brackets, no trailing dot. */
export function hostOf(url: URL): string {
  return url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/** Why an address may not be a destination, or null for a public unicast address. */
export function blockedReason(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  // `process` unwraps IPv4-mapped IPv6 (::ffff:127.0.0.1) so the IPv4 rules apply to it.
  const ip = ipaddr.process(address);
  if (METADATA_ADDRESSES.has(ip.toNormalizedString()) || METADATA_ADDRESSES.has(ip.toString())) return 'cloud metadata';
  const range = ip.range();
  if (range === 'unicast') return null;
  return RANGE_NAMES[range] ?? range;
}

export interface VettedDestination {
  url: URL;
  /** Addresses checked for this host; null when the host is allow-listed or this runtime does not resolve names. */
  addresses: string[] | null;
}

/**
 * Checks a destination. `resolveHost` absent (Workers): IP literals and `localhost` names are still
 * refused; other names are left to the platform's egress rules.
 */
export async function checkDestination(raw: string, policy: DestinationPolicy, resolveHost?: ResolveHost): Promise<VettedDestination> {
  const url = parseWebhookUrl(raw, policy);
  const host = hostOf(url);
  if (policy.allowedHosts.includes(host)) return { url, addresses: null };
  if (ipaddr.isValid(host)) {
    const reason = blockedReason(host);
    if (reason) throw new DestinationRefusedError(`${host} is not a public address (${reason}); webhooks only go to public addresses.`);
    return { url, addresses: [host] };
  }
  if (!resolveHost) {
    // No resolver here (Workers): refuse the loopback names at least; egress rules cover the rest.
    if (host === 'localhost' || host.endsWith('.localhost')) throw new DestinationRefusedError(`${host} is a loopback name; webhooks only go to public addresses.`);
    return { url, addresses: null };
  }
  let addresses: string[];
  try {
    addresses = await resolveHost(host);
  } catch (e) {
    throw new DestinationRefusedError(`${host} does not resolve${e instanceof Error && 'code' in e ? ` (${String((e as { code: unknown }).code)})` : ''}.`);
  }
  if (addresses.length === 0) throw new DestinationRefusedError(`${host} does not resolve.`);
  for (const address of addresses) {
    const reason = blockedReason(address);
    if (reason) throw new DestinationRefusedError(`${host} resolves to ${address}, not a public address (${reason}); webhooks only go to public addresses.`);
  }
  return { url, addresses };
}
