import { checkLabelKey, checkLabelValue, type Labels } from './labels';

/**
 * Request-body checks the way the Hetzner Cloud API documents them: required fields, types,
 * enums, sizes. Problems are collected per field and answered as one `invalid_input` with
 * `details.fields[{name, messages}]`, like the documented example.
 */
export class Problems {
  readonly fields = new Map<string, string[]>();
  add(field: string, message: string): void {
    const list = this.fields.get(field) ?? [];
    list.push(message);
    this.fields.set(field, list);
  }
  get empty(): boolean {
    return this.fields.size === 0;
  }
  toDetails() {
    return { fields: [...this.fields].map(([name, messages]) => ({ name, messages })) };
  }
  toMessage(): string {
    const [name, messages] = [...this.fields][0] ?? ['body', ['is invalid']];
    return `invalid input in field '${name}': ${messages.join(', ')}`;
  }
}

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function requireString(body: Json, field: string, p: Problems, path = field): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    p.add(path, 'is missing');
    return undefined;
  }
  if (typeof value !== 'string') {
    p.add(path, 'must be a string');
    return undefined;
  }
  if (value.length === 0) p.add(path, 'must not be empty');
  return value;
}

export function optionalString(body: Json, field: string, p: Problems, path = field): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    p.add(path, 'must be a string');
    return undefined;
  }
  return value;
}

export function optionalBoolean(body: Json, field: string, p: Problems): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') {
    p.add(field, 'must be a boolean');
    return undefined;
  }
  return value;
}

export function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** `labels`: an object of string values with valid keys and values. */
export function optionalLabels(body: Json, p: Problems): Labels {
  const value = body.labels;
  if (value === undefined || value === null) return {};
  if (!isObject(value)) {
    p.add('labels', 'must be an object');
    return {};
  }
  const out: Labels = {};
  for (const [k, raw] of Object.entries(value)) {
    if (typeof raw !== 'string') {
      p.add('labels', `label '${k}' must have a string value`);
      continue;
    }
    const problem = checkLabelKey(k) ?? checkLabelValue(raw);
    if (problem) p.add('labels', problem);
    else out[k] = raw;
  }
  return out;
}

export function optionalArray(body: Json, field: string, p: Problems): unknown[] | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    p.add(field, 'must be an array');
    return undefined;
  }
  return value;
}

/** IPv4 CIDR → [network as uint32, prefix length]; undefined when not a CIDR. */
export function parseCidr4(cidr: string): [number, number] | undefined {
  const m = cidr.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const ip = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((ip & mask) >>> 0 !== ip) return undefined;
  return [ip, prefix];
}

export function isCidr(value: string): boolean {
  return parseCidr4(value) !== undefined || /^[0-9a-fA-F:]+\/\d{1,3}$/.test(value);
}

/** RFC 1918: 10/8, 172.16/12, 192.168/16. */
export function isRfc1918([ip, prefix]: [number, number]): boolean {
  const within = (base: number, bits: number) => prefix >= bits && ip >>> (32 - bits) === base >>> (32 - bits);
  return within(0x0a000000, 8) || within(0xac100000, 12) || within(0xc0a80000, 16);
}

export function cidrContains(outer: [number, number], inner: [number, number]): boolean {
  if (inner[1] < outer[1]) return false;
  const mask = outer[1] === 0 ? 0 : (0xffffffff << (32 - outer[1])) >>> 0;
  return (inner[0] & mask) >>> 0 === outer[0];
}

export function formatIp4(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

/** Server names: unique per project and a valid hostname as per RFC 1123. */
export const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
/** Volume names: alphanumerics, dashes, underscores, dots; alphanumeric at both ends; at most 64. */
export const VOLUME_NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,62}[a-zA-Z0-9])?$/;
