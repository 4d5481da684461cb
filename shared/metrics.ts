/**
 * Metrics port (DESIGN §9): `frostbyte_{component}_{measurement}_{unit}` with a `tenant_id`
 * label. The Node process keeps a Prometheus registry (shared/node/metrics.ts) served at
 * `/metrics` to admins; runtimes without one leave `services.metrics` unset.
 */
export type Labels = Record<string, string>;

export interface Metrics {
  /** Adds to a counter. */
  count(name: CounterName, labels: Labels, by?: number): void;
  /** Records a duration in seconds into a histogram. */
  observe(name: HistogramName, labels: Labels, seconds: number): void;
  /** The Prometheus text exposition of everything, including gauges read at scrape time. */
  render(): Promise<{ contentType: string; body: string }>;
}

export type CounterName = 'frostbyte_intake_bytes_total' | 'frostbyte_intake_files_total';
export type HistogramName = 'frostbyte_step_duration_seconds' | 'frostbyte_retrieval_latency_seconds' | 'frostbyte_audit_append_latency_seconds';
