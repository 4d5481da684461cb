/**
 * Labels and label selectors as the Hetzner Cloud API documents them (OpenAPI spec, sections
 * "Labels" and "Label Selector").
 */
export type Labels = Record<string, string>;

const NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/;
const VALUE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?)?$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Answers a problem with a label key, or undefined when it is valid. */
export function checkLabelKey(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (!NAME.test(name)) return `label key '${key}' is invalid`;
  if (prefix !== undefined) {
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return `label key prefix '${prefix}' is invalid`;
    if (prefix === 'hetzner.cloud') return `label key prefix 'hetzner.cloud/' is reserved`;
  }
  return undefined;
}

export function checkLabelValue(value: string): string | undefined {
  return VALUE.test(value) ? undefined : `label value '${value}' is invalid`;
}

type Term =
  | { op: 'eq' | 'ne'; key: string; value: string }
  | { op: 'exists' | 'absent'; key: string }
  | { op: 'in' | 'notin'; key: string; values: string[] };

export class LabelSelectorError extends Error {}

/** Parses `k=v,k2!=v,k3,!k4,k5 in (a,b),k6 notin (c)`; throws LabelSelectorError. */
export function parseLabelSelector(selector: string): Term[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) throw new LabelSelectorError(`unbalanced parentheses in '${selector}'`);
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (depth !== 0) throw new LabelSelectorError(`unbalanced parentheses in '${selector}'`);
  parts.push(current);
  return parts.map((raw) => {
    const part = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)$/))) {
      const values = m[3].split(',').map((s) => s.trim());
      checkTerm(m[1], values);
      return { op: m[2] === 'in' ? 'in' : 'notin', key: m[1], values };
    }
    if ((m = part.match(/^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/))) {
      checkTerm(m[1], [m[3]]);
      return { op: m[2] === '!=' ? 'ne' : 'eq', key: m[1], value: m[3] };
    }
    if ((m = part.match(/^!\s*([^\s!=(),]+)$/))) {
      checkTerm(m[1], []);
      return { op: 'absent', key: m[1] };
    }
    if ((m = part.match(/^([^\s!=(),]+)$/))) {
      checkTerm(m[1], []);
      return { op: 'exists', key: m[1] };
    }
    throw new LabelSelectorError(`cannot parse '${part}'`);
  });
}

function checkTerm(key: string, values: string[]): void {
  const problem = checkLabelKey(key) ?? values.map(checkLabelValue).find((p) => p !== undefined);
  if (problem) throw new LabelSelectorError(problem);
}

export function matchesSelector(labels: Labels, terms: Term[]): boolean {
  return terms.every((t) => {
    const has = Object.hasOwn(labels, t.key);
    switch (t.op) {
      case 'eq':
        return has && labels[t.key] === t.value;
      case 'ne':
        return !has || labels[t.key] !== t.value;
      case 'exists':
        return has;
      case 'absent':
        return !has;
      case 'in':
        return has && t.values.includes(labels[t.key]);
      case 'notin':
        return !has || !t.values.includes(labels[t.key]);
    }
  });
}
