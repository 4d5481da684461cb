import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { InvalidArgumentError, type Command } from 'commander';
import type { JSONWebKeySet } from 'jose';
import { EXPORT_FORMATS, type ExportFormat } from '../../../shared/audit';
import { createAuditSchedule, deleteAuditSchedule, listAuditSchedules, type AuditScheduleView } from '../../../shared/audit/schedules';
import type { ExportView } from '../../../shared/audit/service';
import { verifyExportFile } from '../../../shared/node/verify-export-file';
import { err, out, withRuntime } from '../runtime';

/**
 * `frostbyte audit …`
 * - `export` and `verify` are for customers, support and SIEM teams: `export` talks to a running
 *   server over HTTP with an audit token (request, wait, download file + manifest + JWKS, verify);
 *   `verify` works offline on the downloaded files.
 * - `schedule`, `schedules`, `unschedule` are for platform operators: against the platform's
 *   database like `frostbyte tenant …`, or through the admin API with `--url` and an admin token.
 */
export function registerAuditCommands(program: Command) {
  const audit = program.command('audit').description('tamper-evident audit log: export, verify, schedule exports');

  audit
    .command('export')
    .description('export a tenant\'s audit events through the API: a time range, or one resource\'s provenance; downloads the file, the signed manifest and the JWKS into --out and verifies them')
    .requiredOption('--tenant <tenant_id>')
    .option('--from <time>', 'ISO-8601, inclusive (e.g. 2026-03-01T00:00:00Z)')
    .option('--to <time>', 'ISO-8601, exclusive')
    .option('--resource <resource_id>', 'one resource (e.g. doc_…): its whole provenance chain')
    .option('--format <format>', `${EXPORT_FORMATS.join(' or ')}`, parseFormat, 'jsonl')
    .requiredOption('--out <dir>', 'folder for events.jsonl (or events.cef), manifest.json and jwks.json')
    .option('--url <url>', 'Frostbyte server, e.g. https://api.frostbyte.example (default: $FROSTBYTE_URL)')
    .option('--token <jwt>', 'a token with the audit scope for the tenant (default: $FROSTBYTE_TOKEN)')
    .option('--timeout <seconds>', 'give up waiting for the export after this long', parsePositive, 600)
    .option('--no-verify', 'download only; do not run `audit verify` on the result')
    .action(async (opts: { tenant: string; from?: string; to?: string; resource?: string; format: ExportFormat; out: string; url?: string; token?: string; timeout: number; verify: boolean }) => {
      if (!opts.resource && (!opts.from || !opts.to)) throw new Error('give --from and --to (a time range), or --resource (one resource\'s provenance)');
      const api = apiClient(opts.url ?? process.env.FROSTBYTE_URL, opts.token ?? process.env.FROSTBYTE_TOKEN, 'an audit token');
      const base = `/api/v1/audit/${encodeURIComponent(opts.tenant)}`;
      const body = { ...(opts.from ? { from: opts.from } : {}), ...(opts.to ? { to: opts.to } : {}), ...(opts.resource ? { resource_id: opts.resource } : {}), format: opts.format };
      let view = await api.json<ExportView>('POST', `${base}/exports`, body);
      err(`export ${view.export_id} ${view.status}`);
      const until = Date.now() + opts.timeout * 1000;
      let delay = 250;
      while (view.status === 'pending' || view.status === 'running') {
        if (Date.now() > until) throw new Error(`export ${view.export_id} is still ${view.status} after ${opts.timeout} s; fetch it later with GET ${base}/exports/${view.export_id}`);
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
        const next = await api.json<ExportView>('GET', `${base}/exports/${view.export_id}`);
        if (next.status !== view.status) err(`export ${view.export_id} ${next.status}`);
        view = next;
      }
      if (view.status !== 'completed') throw new Error(`export ${view.export_id} failed: ${view.error ?? 'unknown error'}`);

      const dir = resolve(opts.out);
      await mkdir(dir, { recursive: true });
      const files = { events: join(dir, `events.${view.format}`), manifest: join(dir, 'manifest.json'), jwks: join(dir, 'jwks.json') };
      const sha = await api.download(`${base}/exports/${view.export_id}/file`, files.events);
      if (sha !== view.file_sha256) throw new Error(`the downloaded file's SHA-256 is ${sha}, the export says ${view.file_sha256}: download again`);
      await api.download(`${base}/exports/${view.export_id}/manifest`, files.manifest);
      await api.download('/.well-known/jwks.json', files.jwks);
      out(`export ${view.export_id}: ${view.event_count} event(s), file sha256 ${view.file_sha256}`);
      out(`  ${files.events}`);
      out(`  ${files.manifest}`);
      out(`  ${files.jwks}`);
      if (opts.verify) {
        const result = await verifyFiles(files.events, files.manifest, files.jwks);
        if (!result.ok) {
          err(result.message);
          process.exitCode = 2;
        } else out(result.message);
      }
    });

  audit
    .command('verify <events_file>')
    .description('verify an export offline: manifest signature, file SHA-256, event count, every event hash, the log chain and provenance inside the file; exit 0 with a summary, 2 naming the first failing line')
    .requiredOption('--manifest <file>', 'the export\'s manifest.json')
    .option('--jwks <url|file>', 'public keys: the server\'s /.well-known/jwks.json (or the server URL), or a saved copy (default: jwks.json beside the manifest)')
    .action(async (eventsFile: string, opts: { manifest: string; jwks?: string }) => {
      const jwks = opts.jwks ?? join(dirname(resolve(opts.manifest)), 'jwks.json');
      if (!opts.jwks && !existsSync(jwks)) throw new Error(`no --jwks given and no jwks.json beside the manifest; pass --jwks <url|file>`);
      const result = await verifyFiles(eventsFile, opts.manifest, jwks);
      if (result.ok) out(result.message);
      else {
        err(result.message);
        process.exitCode = 2;
      }
    });

  audit
    .command('schedule')
    .description('operators: export a tenant\'s audit log on a schedule (cron, 5 fields, UTC); each run exports the window since the previous run')
    .requiredOption('--tenant <tenant_id>')
    .requiredOption('--cron <expression>', 'e.g. "0 2 * * *" (02:00 UTC daily)')
    .option('--format <format>', `${EXPORT_FORMATS.join(' or ')}`, parseFormat, 'jsonl')
    .option('--url <url>', 'go through the admin API of this server (needed while an embedded server holds the data dir)')
    .option('--token <jwt>', 'admin token for --url (default: $FROSTBYTE_TOKEN)')
    .option('--json', 'print the schedule as JSON')
    .action(async (opts: { tenant: string; cron: string; format: ExportFormat; url?: string; token?: string; json?: boolean }) => {
      const schedule = opts.url
        ? await apiClient(opts.url, opts.token ?? process.env.FROSTBYTE_TOKEN, 'an admin token').json<AuditScheduleView>('POST', schedulesPath(opts.tenant), { cron: opts.cron, format: opts.format })
        : await withRuntime('frostbyte audit schedule', ({ services }) => createAuditSchedule(services, opts.tenant, { cron: opts.cron, format: opts.format }, 'cli'));
      if (opts.json) out(JSON.stringify(schedule, null, 2));
      else out(`schedule ${schedule.schedule_id} for ${schedule.tenant_id}: "${schedule.cron}" UTC, ${schedule.format}; next run ${schedule.next_run_at}`);
    });

  audit
    .command('schedules')
    .description('operators: list a tenant\'s export schedules')
    .requiredOption('--tenant <tenant_id>')
    .option('--url <url>', 'go through the admin API of this server')
    .option('--token <jwt>', 'admin token for --url (default: $FROSTBYTE_TOKEN)')
    .option('--json', 'print JSON')
    .action(async (opts: { tenant: string; url?: string; token?: string; json?: boolean }) => {
      const list = opts.url
        ? await apiClient(opts.url, opts.token ?? process.env.FROSTBYTE_TOKEN, 'an admin token').json<{ schedules: AuditScheduleView[] }>('GET', schedulesPath(opts.tenant))
        : await withRuntime('frostbyte audit schedules', ({ services }) => listAuditSchedules(services, opts.tenant));
      if (opts.json) out(JSON.stringify(list.schedules, null, 2));
      else if (!list.schedules.length) out(`no export schedules for ${opts.tenant}`);
      else for (const s of list.schedules) out(`${s.schedule_id}  "${s.cron}"  ${s.format}  ${s.enabled ? 'enabled' : 'disabled'}  last window end ${s.last_run_at ?? '-'}  next ${s.next_run_at}`);
    });

  audit
    .command('unschedule <schedule_id>')
    .description('operators: delete an export schedule (exports it made stay)')
    .requiredOption('--tenant <tenant_id>')
    .option('--url <url>', 'go through the admin API of this server')
    .option('--token <jwt>', 'admin token for --url (default: $FROSTBYTE_TOKEN)')
    .action(async (scheduleId: string, opts: { tenant: string; url?: string; token?: string }) => {
      if (opts.url) await apiClient(opts.url, opts.token ?? process.env.FROSTBYTE_TOKEN, 'an admin token').json('DELETE', `${schedulesPath(opts.tenant)}/${encodeURIComponent(scheduleId)}`);
      else await withRuntime('frostbyte audit unschedule', ({ services }) => deleteAuditSchedule(services, opts.tenant, scheduleId, 'cli'));
      out(`schedule ${scheduleId} of ${opts.tenant} deleted`);
    });

  return audit;
}

const schedulesPath = (tenantId: string) => `/api/v1/admin/tenants/${encodeURIComponent(tenantId)}/audit-schedules`;

function parseFormat(value: string): ExportFormat {
  if (!(EXPORT_FORMATS as readonly string[]).includes(value)) throw new InvalidArgumentError(`use ${EXPORT_FORMATS.join(' or ')}`);
  return value as ExportFormat;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Verifies an export on disk; the message is the one line the CLI prints. */
async function verifyFiles(eventsFile: string, manifestFile: string, jwksSource: string): Promise<{ ok: boolean; message: string }> {
  let manifest: unknown;
  try {
    manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
  } catch (e) {
    return { ok: false, message: `FAILED MANIFEST_INVALID: ${manifestFile} is not readable JSON (${(e as Error).message})` };
  }
  const jwks = await loadJwks(jwksSource);
  if (!existsSync(eventsFile)) throw new Error(`${eventsFile} does not exist`);
  const result = await verifyExportFile(eventsFile, manifest, jwks);
  if (result.ok) return { ok: true, message: result.summary };
  return { ok: false, message: `FAILED ${result.code}${result.line !== null ? ` at line ${result.line}` : ''}: ${result.reason}` };
}

/** A JWKS from a URL (the JWKS itself, or a server base URL) or a file. */
async function loadJwks(source: string): Promise<JSONWebKeySet> {
  let text: string;
  if (/^https?:\/\//i.test(source)) {
    const url = new URL(source);
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/.well-known/jwks.json';
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) }).catch((e: unknown) => {
      throw new Error(`cannot fetch the JWKS from ${url}: ${e instanceof Error ? e.message : String(e)}`);
    });
    if (!res.ok) throw new Error(`cannot fetch the JWKS from ${url}: HTTP ${res.status}`);
    text = await res.text();
  } else {
    text = await readFile(source, 'utf8').catch((e: unknown) => {
      throw new Error(`cannot read the JWKS file ${source}: ${e instanceof Error ? e.message : String(e)}`);
    });
  }
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch {
    throw new Error(`the JWKS from ${source} is not JSON`);
  }
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) throw new Error(`the JWKS from ${source} has no "keys" array`);
  return jwks as JSONWebKeySet;
}

/** A small HTTP client for the audit and admin APIs: problem+json errors, 429 answered by waiting. */
function apiClient(baseUrl: string | undefined, token: string | undefined, tokenKind: string) {
  if (!baseUrl) throw new Error('give --url (or set FROSTBYTE_URL): the Frostbyte server to talk to');
  if (!token) throw new Error(`give --token (or set FROSTBYTE_TOKEN): ${tokenKind}`);
  const base = baseUrl.replace(/\/+$/, '');

  async function send(method: string, path: string, body?: unknown): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).catch((e: unknown) => {
        throw new Error(`cannot reach ${base}: ${e instanceof Error ? e.message : String(e)}`);
      });
      if (res.status === 429 && attempt < 5) {
        const wait = Math.min(60, Number(res.headers.get('retry-after') ?? '5') || 5);
        await res.body?.cancel();
        err(`rate limited; retrying in ${wait} s`);
        await sleep(wait * 1000);
        continue;
      }
      if (!res.ok) {
        const text = await res.text();
        let detail = text.slice(0, 500);
        try {
          const problem = JSON.parse(text) as { code?: string; detail?: string; errors?: { field: string; message: string }[] };
          detail = `${problem.code ?? res.status}: ${problem.detail ?? ''}${problem.errors?.length ? ` (${problem.errors.map((e) => `${e.field} ${e.message}`).join('; ')})` : ''}`;
        } catch {
          // Not problem+json (a proxy's page): show the start of the body.
        }
        throw new Error(`${method} ${path} answered HTTP ${res.status}: ${detail}`);
      }
      return res;
    }
  }

  return {
    async json<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await send(method, path, body);
      const text = await res.text();
      return (text ? JSON.parse(text) : null) as T;
    },
    /** Streams a response body to `file` and returns its SHA-256 (hex). */
    async download(path: string, file: string): Promise<string> {
      const res = await send('GET', path);
      if (!res.body) throw new Error(`GET ${path} answered without a body`);
      const hash = createHash('sha256');
      await pipeline(
        Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(file),
      );
      return hash.digest('hex');
    },
  };
}

