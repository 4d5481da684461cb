import { canonicalJson } from './hashing';
import { isAuditEventType, isAuditResourceType, type AuditDetails, type AuditEvent, type AuditEventType } from './types';

/**
 * ArcSight Common Event Format (CEF) rendering of audit events, one line per event:
 * `CEF:0|Frostbyte|Frostbyte|<version>|<event_type>|<name>|<severity>|<extension>`.
 * Severity is CEF's 0–10 scale (0–3 low, 4–6 medium, 7–8 high, 9–10 very high).
 * The mapping and the extension keys are documented in docs/audit.md; keep them in step.
 */
export const CEF_EVENT_MAP: Readonly<Record<AuditEventType, { name: string; severity: number }>> = {
  TENANT_CREATED: { name: 'Tenant created', severity: 3 },
  TENANT_PROVISION_STARTED: { name: 'Tenant provisioning started', severity: 2 },
  TENANT_PROVISION_STEP_COMPLETED: { name: 'Tenant provisioning step completed', severity: 1 },
  TENANT_PROVISIONED: { name: 'Tenant provisioned', severity: 3 },
  TENANT_PROVISION_FAILED: { name: 'Tenant provisioning failed', severity: 7 },
  TENANT_PROVISION_RETRY: { name: 'Tenant provisioning retried', severity: 5 },
  TENANT_ROLLED_BACK: { name: 'Tenant provisioning rolled back', severity: 7 },
  TENANT_SUSPENDED: { name: 'Tenant suspended', severity: 6 },
  TENANT_RESUMED: { name: 'Tenant resumed', severity: 4 },
  TENANT_DEPROVISIONED: { name: 'Tenant deprovisioned', severity: 6 },
  TENANT_CONFIG_UPDATED: { name: 'Tenant configuration updated', severity: 4 },
  BATCH_RECEIVED: { name: 'Batch received', severity: 2 },
  DOCUMENT_INGESTED: { name: 'Document ingested', severity: 2 },
  DOCUMENT_REJECTED: { name: 'Document rejected', severity: 5 },
  DOCUMENT_QUARANTINED: { name: 'Document quarantined as malware', severity: 9 },
  DOCUMENT_DUPLICATE: { name: 'Duplicate document', severity: 1 },
  DOCUMENT_PARSED: { name: 'Document parsed', severity: 2 },
  DOCUMENT_PARSE_FAILED: { name: 'Document parsing failed', severity: 6 },
  CONTENT_DROPPED: { name: 'Content dropped while parsing', severity: 4 },
  DOCUMENT_INDEXED: { name: 'Document indexed', severity: 2 },
  DOCUMENT_INDEX_FAILED: { name: 'Document indexing failed', severity: 6 },
  BATCH_COMPLETED: { name: 'Batch completed', severity: 2 },
  WEBHOOK_DELIVERED: { name: 'Webhook delivered', severity: 1 },
  WEBHOOK_FAILED: { name: 'Webhook delivery failed', severity: 5 },
  RETRIEVAL_EXECUTED: { name: 'Retrieval executed', severity: 3 },
  AUDIT_EXPORTED: { name: 'Audit log exported', severity: 5 },
};

/**
 * Extension keys, in output order. Standard CEF keys where one fits; custom strings carry the
 * chain fields so a CEF export can be verified like a JSON Lines one (verifyExport rebuilds each
 * event from them).
 */
export const CEF_EXTENSION_KEYS = {
  rt: 'timestamp, milliseconds since the Unix epoch',
  externalId: 'event_id',
  suser: 'actor',
  cat: 'resource_type',
  outcome: 'details.status, when present',
  cn1: 'seq',
  cs1: 'tenant_id',
  cs2: 'resource_id',
  cs3: 'previous_event_id (absent for the first event of a resource)',
  cs4: 'hash',
  cs5: 'prev_hash',
  cs6: 'details, as RFC 8785 canonical JSON',
} as const;

const LABELS: Record<string, string> = {
  cn1: 'seq',
  cs1: 'tenant_id',
  cs2: 'resource_id',
  cs3: 'previous_event_id',
  cs4: 'hash',
  cs5: 'prev_hash',
  cs6: 'details',
};

/** Header fields: `\` and `|` are escaped; a header cannot span lines, so line breaks become spaces. */
export function escapeCefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(/\r\n|[\r\n]/g, ' ');
}

/** Extension values: `\` and `=` are escaped, line breaks are written as `\n` / `\r`. */
export function escapeCefValue(value: string): string {
  return value.replace(/[\\=\r\n]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
}

function unescapeCefValue(value: string): string {
  return value.replace(/\\([\\=nr|])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}

/** One CEF line (without the trailing newline). `productVersion` is Frostbyte's version. */
export function formatCefEvent(e: AuditEvent, productVersion: string): string {
  const map = CEF_EVENT_MAP[e.event_type];
  const ext: [string, string][] = [
    ['rt', String(Date.parse(e.timestamp))],
    ['externalId', e.event_id],
    ['suser', e.actor],
    ['cat', e.resource_type],
  ];
  if (typeof e.details.status === 'string') ext.push(['outcome', e.details.status]);
  ext.push(['cn1Label', LABELS.cn1], ['cn1', String(e.seq)]);
  ext.push(['cs1Label', LABELS.cs1], ['cs1', e.tenant_id]);
  ext.push(['cs2Label', LABELS.cs2], ['cs2', e.resource_id]);
  if (e.previous_event_id !== null) ext.push(['cs3Label', LABELS.cs3], ['cs3', e.previous_event_id]);
  ext.push(['cs4Label', LABELS.cs4], ['cs4', e.hash]);
  ext.push(['cs5Label', LABELS.cs5], ['cs5', e.prev_hash]);
  ext.push(['cs6Label', LABELS.cs6], ['cs6', canonicalJson(e.details)]);
  const header = ['CEF:0', 'Frostbyte', 'Frostbyte', productVersion, e.event_type, map.name, String(map.severity)].map((h, i) => (i === 0 ? h : escapeCefHeader(h)));
  return `${header.join('|')}|${ext.map(([k, v]) => `${k}=${escapeCefValue(v)}`).join(' ')}`;
}

/** Splits a CEF line into its 7 header fields and the extension text; null if it is not CEF. */
function splitHeader(line: string): { header: string[]; extension: string } | null {
  const header: string[] = [];
  let start = 0;
  for (let i = 0; i < line.length && header.length < 7; i++) {
    const c = line.charCodeAt(i);
    if (c === 92 /* \ */) i++;
    else if (c === 124 /* | */) {
      header.push(line.slice(start, i).replace(/\\([\\|])/g, '$1'));
      start = i + 1;
    }
  }
  if (header.length < 7 || !header[0].endsWith('CEF:0')) return null;
  return { header, extension: line.slice(start) };
}

/** Parses `key=value key=value …`, where only escaped `=` may appear inside a value. */
export function parseCefExtension(extension: string): Map<string, string> {
  const out = new Map<string, string>();
  // Unescaped '=' positions: each one ends a key.
  const eqs: number[] = [];
  for (let i = 0; i < extension.length; i++) {
    const c = extension.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 61) eqs.push(i);
  }
  const keyStart = (eq: number) => {
    const space = extension.lastIndexOf(' ', eq);
    return space === -1 ? 0 : space + 1;
  };
  for (let k = 0; k < eqs.length; k++) {
    const eq = eqs[k];
    const key = extension.slice(keyStart(eq), eq);
    const end = k + 1 < eqs.length ? keyStart(eqs[k + 1]) - 1 : extension.length;
    out.set(key, unescapeCefValue(extension.slice(eq + 1, Math.max(eq + 1, end))));
  }
  return out;
}

/**
 * Rebuilds the audit event a CEF line of ours carries, or explains why it cannot. Used by
 * verifyExport, so a CEF export is checked as strictly as a JSON Lines one.
 */
export function parseCefEvent(line: string): { event: AuditEvent } | { error: string } {
  const split = splitHeader(line);
  if (!split) return { error: 'not a CEF:0 line' };
  const [, vendor, product, , signatureId] = split.header;
  if (vendor !== 'Frostbyte' || product !== 'Frostbyte') return { error: 'not a Frostbyte CEF event' };
  const ext = parseCefExtension(split.extension);
  for (const [key, label] of Object.entries(LABELS)) {
    if (ext.has(key) && ext.get(`${key}Label`) !== label) return { error: `${key}Label is not ${label}` };
  }
  const need = (key: string) => ext.get(key);
  const rt = need('rt');
  const seq = need('cn1');
  const fields = { externalId: need('externalId'), suser: need('suser'), cat: need('cat'), cs1: need('cs1'), cs2: need('cs2'), cs4: need('cs4'), cs5: need('cs5'), cs6: need('cs6') };
  for (const [k, v] of Object.entries({ rt, cn1: seq, ...fields })) if (v === undefined) return { error: `extension ${k} is missing` };
  if (!/^\d+$/.test(rt as string) || !/^\d+$/.test(seq as string)) return { error: 'rt and cn1 must be integers' };
  if (!isAuditEventType(signatureId)) return { error: `unknown event type ${signatureId}` };
  if (!isAuditResourceType(fields.cat)) return { error: `unknown resource type ${String(fields.cat)}` };
  let details: unknown;
  try {
    details = JSON.parse(fields.cs6 as string);
  } catch {
    return { error: 'cs6 (details) is not JSON' };
  }
  if (typeof details !== 'object' || details === null || Array.isArray(details)) return { error: 'cs6 (details) is not a JSON object' };
  return {
    event: {
      event_id: fields.externalId as string,
      tenant_id: fields.cs1 as string,
      seq: Number(seq),
      event_type: signatureId,
      timestamp: new Date(Number(rt)).toISOString(),
      actor: fields.suser as string,
      resource_type: fields.cat,
      resource_id: fields.cs2 as string,
      details: details as AuditDetails,
      previous_event_id: ext.get('cs3') ?? null,
      prev_hash: fields.cs5 as string,
      hash: fields.cs4 as string,
    },
  };
}
