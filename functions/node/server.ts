import { setFlagsFromString } from 'node:v8';
import { serve } from '@hono/node-server';
import { issueToken } from '../../shared/auth/tokens';
import { ConfigError, loadEnv } from '../../shared/config/env';
import { tenants } from '../../shared/db/schema/control';
import { createTenant } from '../../shared/tenants/tenants';
import { buildApi } from '../api';
import { wireNode } from './wire';
import { startPipelineDriver } from '../../shared/node/pipeline-driver';
import { startAuditScheduler, type AuditScheduler } from '../../shared/node/audit-scheduler';
import { releaseClaims, releaseControlClaims } from '../../shared/queue/relay';
import { activeTenants, CONTROL } from '../../shared/queue/sweeper';

/** `npm start`: the whole service on one machine. */
async function main() {
  // The embedded database is PostgreSQL compiled to WebAssembly. By default V8 optimises its
  // functions only once they run hot, so the first batches pay for that compilation on the way
  // (the pipeline bench ran about twice as long). A server compiles it fully in the background
  // at start instead, before work arrives. Must precede the first PGlite instance.
  setFlagsFromString('--no-wasm-dynamic-tiering');
  let env;
  try {
    env = loadEnv(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) process.stderr.write(`frostbyte: setting ${p.key}: ${p.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  // The local relay hands its signed step requests to the app in this process: the same route,
  // signature check and handler as over HTTP, without a loopback connection per step.
  let api: ReturnType<typeof buildApi> | undefined;
  const stepsFetch = async (url: string, init: RequestInit) => {
    if (!api) throw new Error('the API is not built yet');
    return api.request(url, init);
  };
  const runtime = await wireNode(env, { holder: 'frostbyte server', parser: 'warm', stepsFetch });
  const { services } = runtime;
  const app = (api = buildApi(services));
  if (runtime.embedded) {
    // One process owns the embedded data dir: messages a crashed run had claimed are due now.
    for (const id of await activeTenants(services)) await releaseClaims(services, await services.planes.forTenant(id));
    await releaseControlClaims(services);
  }
  const driver = startPipelineDriver(services);
  // Started once the server listens (its exports run through the step routes); catches up missed runs.
  let auditScheduler: AuditScheduler | null = null;
  const server = serve({ fetch: app.fetch, port: env.PORT, hostname: env.HOST }, async (info) => {
    const base = env.PUBLIC_URL ?? `http://${info.address === '::' ? 'localhost' : info.address}:${info.port}`;
    services.log.log('info', `listening on ${base}`, { component: 'server' });
    runtime.listeningAt(ownAddress(info.address, info.port));
    for (const id of [CONTROL, ...(await activeTenants(services))]) driver.kick(id);
    auditScheduler = startAuditScheduler(services);
    if (runtime.embedded) await printDemo(base).catch((e) => services.log.log('error', `demo setup failed: ${e instanceof Error ? e.message : e}`, { component: 'server' }));
  });

  async function printDemo(base: string) {
    const existing = await services.control.select({ id: tenants.id }).from(tenants).limit(1);
    if (existing.length) return;
    await createTenant(services, { tenantId: 'demo', actor: 'system' });
    const { token } = await issueToken(services.keys, services.clock, services.tokens, { sub: 'demo-vendor', tenantId: 'demo', scopes: ['ingest', 'query'], ttlSeconds: 3600 });
    const out = [
      '',
      'Frostbyte is running on the embedded default. A `demo` tenant was created.',
      'A token valid for 1 hour (scopes ingest, query):',
      '',
      `  export TOKEN=${token}`,
      '',
      'Submit a one-file batch:',
      '',
      "  printf 'Master services agreement between Acme and Frostbyte.\\n' > hello.txt",
      `  SHA=$(sha256sum hello.txt | cut -d' ' -f1); SIZE=$(stat -c %s hello.txt)`,
      `  printf '{"batch_id":"batch-001","tenant_id":"demo","file_count":1,"files":[{"file_id":"file_001","filename":"hello.txt","mime_type":"text/plain","size_bytes":%s,"sha256":"%s"}]}' "$SIZE" "$SHA" > manifest.json`,
      `  curl -sS -H "Authorization: Bearer $TOKEN" -F "manifest=@manifest.json;type=application/json" -F "files=@hello.txt" ${base}/api/v1/ingest/demo/batch`,
      `  curl -sS -H "Authorization: Bearer $TOKEN" ${base}/api/v1/ingest/demo/batch/batch-001`,
      '',
    ];
    process.stdout.write(out.join('\n') + '\n');
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    await auditScheduler?.stop();
    await driver.stop();
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** A URL this process can reach itself at: a wildcard listen (dual-stack for `::`) is called on loopback. */
function ownAddress(address: string, port: number): string {
  if (address === '0.0.0.0' || address === '::') return `http://127.0.0.1:${port}`;
  return address.includes(':') ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

void main().catch((e) => {
  process.stderr.write(`frostbyte: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
