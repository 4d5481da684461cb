import type { KeyRing } from './auth/keys';
import type { TokenSettings } from './auth/tokens';
import type { Clock } from './clock';
import type { Env } from './config/env';
import type { BatchStatus, TenantTables } from './db/schema/tenant';
import type { Db, DbCapabilities, DbOrTx } from './db/types';
import type { Sha256Factory } from './hash';
import type { Embedder } from './index/embedder';
import type { Logger } from './log';
import type { Metrics } from './metrics';
import type { DocumentParser } from './pipeline/ports';
import type { Queue, SignatureVerifier } from './queue/queue';
import type { MalwareScanner } from './scanner/malware-scanner';
import type { CloudProvider } from './tenants/cloud/cloud-provider';
import type { DataPlanes } from './tenants/data-plane';
import type { DocumentFailure, WebhookRuntime } from './webhooks/ports';

/**
 * Everything a verb may touch outside the process, wired once per runtime by its entry
 * (functions/node, functions/worker, functions/lambda). Verbs are `fn(services, input)`.
 */
export interface Services {
  env: Env;
  clock: Clock;
  log: Logger;
  /** Control plane database. */
  control: Db;
  controlCapabilities: DbCapabilities;
  planes: DataPlanes;
  /** Where tenant provisioning makes cloud resources: Hetzner, or `none` on the embedded default. */
  cloud: CloudProvider;
  keys: KeyRing;
  tokens: TokenSettings;
  scanner: MalwareScanner | null;
  sha256: Sha256Factory;
  /** Publishes step messages (QStash or the local relay); absent where nothing is chained. */
  queue: Queue | null;
  /** Production parser (worker pool on Node); absent where this runtime does not parse. */
  parser?: DocumentParser;
  embedder?: Embedder;
  /** Prometheus counters and histograms (Node); absent elsewhere. */
  metrics?: Metrics;
  /** Where step routes live and how their signatures are checked. */
  steps?: { baseUrl: string; verifier: SignatureVerifier };
  /** Called after a transaction wrote outbox rows, so the relay publishes without waiting for a sweep. */
  onOutboxWritten?: (tenantId: string) => void;
  /** Called after audit events were recorded in a data plane, to append them to the chain soon. */
  onAuditRecorded?: (tenantId: string) => void;
  /** Extension points inside domain transactions (webhooks subscribe to batch completion). */
  hooks?: {
    batchCompleted?: (tx: DbOrTx, tables: TenantTables, batch: { batchId: string; status: BatchStatus; summary: Record<string, number> }) => Promise<void>;
    /** A document failed for good (today: parsing); webhooks send `document.parse_failed`. */
    documentFailed?: (tx: DbOrTx, tables: TenantTables, doc: DocumentFailure) => Promise<void>;
  };
  /** How webhooks leave this runtime (Node: pinned-address HTTP client and node:dns); absent: fetch, no resolution. */
  webhooks?: WebhookRuntime;
  /**
   * Base URL of this process's own API where it serves one (Node: the server's listening address,
   * or a loopback listener opened on first use). Provisioning's health step calls tenants' health
   * routes there unless TENANT_PUBLIC_URL says where tenants are served.
   */
  selfUrl?: () => Promise<string>;
  /** How the health step sends its requests; absent: fetch. */
  healthFetch?: (url: string, init: RequestInit) => Promise<Response>;
}
