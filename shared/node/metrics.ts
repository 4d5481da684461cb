import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { count, isNull, min } from 'drizzle-orm';
import { deadLetters } from '../db/schema/control';
import type { Metrics } from '../metrics';
import { pendingVectors } from '../index/vector-catch-up';
import { activeTenants } from '../queue/sweeper';
import type { Services } from '../services';

/**
 * The Node process's Prometheus registry. Counters and histograms are fed by the verbs; queue
 * depth and age, dead letters and chunks waiting for the HNSW graph are read from the databases
 * at scrape time.
 */
export function createPrometheusMetrics(getServices: () => Services): Metrics {
  const registry = new Registry();
  const counters = {
    frostbyte_intake_bytes_total: new Counter({ name: 'frostbyte_intake_bytes_total', help: 'Bytes received in accepted and refused files', labelNames: ['tenant_id'], registers: [registry] }),
    frostbyte_intake_files_total: new Counter({ name: 'frostbyte_intake_files_total', help: 'Files by intake outcome', labelNames: ['tenant_id', 'outcome'], registers: [registry] }),
  };
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
  const histograms = {
    frostbyte_step_duration_seconds: new Histogram({ name: 'frostbyte_step_duration_seconds', help: 'Pipeline step handling time', labelNames: ['tenant_id', 'step', 'outcome'], buckets, registers: [registry] }),
    frostbyte_retrieval_latency_seconds: new Histogram({ name: 'frostbyte_retrieval_latency_seconds', help: 'Search latency', labelNames: ['tenant_id', 'mode'], buckets, registers: [registry] }),
    frostbyte_audit_append_latency_seconds: new Histogram({ name: 'frostbyte_audit_append_latency_seconds', help: 'Time to append a tenant\'s recorded events to its chain', labelNames: ['tenant_id'], buckets, registers: [registry] }),
  };
  const depth = new Gauge({ name: 'frostbyte_queue_depth_messages', help: 'Step messages not yet delivered', labelNames: ['tenant_id'], registers: [registry] });
  const age = new Gauge({ name: 'frostbyte_queue_oldest_age_seconds', help: 'Age of the oldest undelivered step message', labelNames: ['tenant_id'], registers: [registry] });
  const dead = new Gauge({ name: 'frostbyte_queue_dead_letters_messages', help: 'Dead-lettered step messages not yet retried', labelNames: ['tenant_id'], registers: [registry] });
  const vectors = new Gauge({ name: 'frostbyte_index_vector_pending_chunks', help: 'Indexed chunks not yet in the HNSW graph (searched by exact scan meanwhile)', labelNames: ['tenant_id'], registers: [registry] });

  async function collectQueues() {
    const services = getServices();
    depth.reset();
    age.reset();
    dead.reset();
    vectors.reset();
    const now = services.clock.now().getTime();
    for (const tenantId of await activeTenants(services)) {
      const plane = await services.planes.forTenant(tenantId);
      const [row] = await plane.db
        .select({ n: count(), oldest: min(plane.tables.outbox.createdAt) })
        .from(plane.tables.outbox)
        .where(isNull(plane.tables.outbox.sentAt));
      depth.set({ tenant_id: tenantId }, Number(row?.n ?? 0));
      age.set({ tenant_id: tenantId }, row?.oldest ? Math.max(0, (now - new Date(row.oldest).getTime()) / 1000) : 0);
      vectors.set({ tenant_id: tenantId }, await pendingVectors(plane.db, plane.tables, plane.capabilities));
    }
    const letters = await services.control.select({ tenantId: deadLetters.tenantId, n: count() }).from(deadLetters).where(isNull(deadLetters.retriedAt)).groupBy(deadLetters.tenantId);
    for (const l of letters) dead.set({ tenant_id: l.tenantId }, Number(l.n));
  }

  return {
    count: (name, labels, by = 1) => (counters[name] as Counter<string>).inc(labels, by),
    observe: (name, labels, seconds) => (histograms[name] as Histogram<string>).observe(labels, seconds),
    async render() {
      await collectQueues();
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
