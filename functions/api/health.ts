import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import type { AppEnv } from '../../shared/http/context';

/** Public liveness and readiness. Readiness checks the database, storage and the scanner. */
export const health = new Hono<AppEnv>()
  .get('/health', (c) => c.json({ status: 'healthy', timestamp: c.get('services').clock.now().toISOString() }))
  .get('/health/ready', async (c) => {
    const s = c.get('services');
    const probe = async (fn: () => Promise<unknown>) => {
      const started = Date.now();
      try {
        await fn();
        return { status: 'ok', latency_ms: Date.now() - started };
      } catch (e) {
        s.log.log('warn', 'readiness probe failed', { component: 'health', error: e instanceof Error ? e.message : String(e) });
        return { status: 'failed', latency_ms: Date.now() - started };
      }
    };
    const checks = {
      database: { ...(await probe(() => s.control.execute(sql`SELECT 1`))), vector_search: s.controlCapabilities.vector ? 'hnsw' : 'exact_scan' },
      storage: await probe(() => s.planes.storageCheck()),
      scanner: s.scanner ? await probe(() => s.scanner?.check() ?? Promise.resolve()) : { status: 'not_configured', note: 'files are accepted with scan_result not_scanned' },
    };
    const ready = checks.database.status === 'ok' && checks.storage.status === 'ok' && checks.scanner.status !== 'failed';
    return c.json({ status: ready ? 'ready' : 'not_ready', timestamp: s.clock.now().toISOString(), checks }, ready ? 200 : 503);
  });
