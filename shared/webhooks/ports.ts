/**
 * Ports webhooks need from the runtime. Node wires a pinned-address HTTP client and a node:dns
 * resolver (shared/node/webhook-sender.ts, shared/node/resolve-host.ts); Workers use
 * `fetchWebhookSender` and no resolver, relying on the platform's egress rules for names that
 * resolve to internal addresses (docs/webhooks.md, "Where the address check runs").
 */

/** Every address a host name resolves to (IPv4 and IPv6), as the connection would see them. */
export type ResolveHost = (hostname: string) => Promise<string[]>;

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Whole attempt: connect, send, answer (milliseconds). */
  timeoutMs: number;
  /** At most this many bytes of the answer are read; the rest is dropped unread. */
  maxResponseBytes: number;
  /**
   * Addresses the destination check vetted for the URL's host. An adapter that can choose where to
   * connect uses only these, so a DNS answer that changes after the check (rebinding) cannot steer
   * the request to an internal address. Absent: the host was allow-listed, is an IP literal, or
   * this runtime does not resolve names.
   */
  addresses?: string[];
}

export interface WebhookResponse {
  /** The HTTP status, or null when no answer arrived (timeout, refused connection, TLS failure). */
  statusCode: number | null;
  /** Milliseconds from the start of the attempt until the answer was read (or the attempt gave up). */
  latencyMs: number;
  /** The first `maxResponseBytes` of the answer, decoded as UTF-8. */
  body: string;
  /** `Location` of a 3xx answer (never followed). */
  location: string | null;
  /** Why no usable answer arrived; null when one did. */
  error: string | null;
}

/** Sends one webhook attempt: POST, never follows redirects, bounded time and answer size. */
export interface WebhookSender {
  send(request: WebhookRequest): Promise<WebhookResponse>;
}

export interface WebhookRuntime {
  sender: WebhookSender;
  /** Absent on runtimes that cannot resolve names (Workers): only IP literals and `localhost` are checked there. */
  resolveHost?: ResolveHost;
}

/** What `services.hooks.documentFailed` is told when a document failed for good. */
export interface DocumentFailure {
  tenantId: string;
  docId: string;
  batchId: string;
  fileId: string;
  stage: 'parse' | 'index';
  /** Reason code, e.g. FILE_CORRUPTED, PASSWORD_PROTECTED, RETRIES_EXHAUSTED. */
  code: string;
  /** Operator retries bump this, so a document that fails again is announced again. */
  generation: number;
}
