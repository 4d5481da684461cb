import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import * as v from 'valibot';
import type { Manifest } from '../../../shared/intake/manifest';
import { encodeBatchUpload, type UploadFile } from '../../../shared/node/batch-upload';
import { digestFile, type FileDigest } from '../../../shared/node/file-digest';
import { collectInputFiles } from '../../../shared/node/local-files';
import { byteProgress, progressMode, stageProgress, type ProgressMode } from '../../../shared/node/progress';
import { detectFormat, SNIFF_BYTES, SUPPORTED_MIME_TYPES } from '../../../shared/parse/detect-format';
import { BatchReceiptSchema, type BatchReceiptBody, type BatchStatusBody } from '../../../shared/vendor/api-schemas';
import { ApiError, readTokenClaims, VendorClient } from '../../../shared/vendor/client';
import { everyFileAccepted, formatReceipt, formatStatus, formatTable } from '../../../shared/vendor/format';
import { buildManifest, isSendable, ManifestBuildError, parseManifest, type LocalFileFacts } from '../../../shared/vendor/manifest';
import { planResubmit, rejectedFilesOf, resubmitBatchIds } from '../../../shared/vendor/resubmit';
import { newId } from '../../../shared/ids';
import { err, out } from '../runtime';

/**
 * Vendor commands (docs/vendor-guide.md): build a manifest, submit a batch with progress, watch
 * it, resend what was rejected. They talk to a running server over HTTP with a tenant token and
 * never open the platform's database.
 *
 * Exit codes: 0 every file accepted (a `duplicate` counts as accepted) and, with --watch, the batch
 * `completed`; 2 the request worked but some file was rejected, quarantined or failed in the
 * pipeline (the receipt/status says which); 1 nothing was submitted (bad input, auth, network).
 */

/** The request went through but not every file made it. */
const EXIT_FILES_NOT_ACCEPTED = 2;

class CliError extends Error {}

interface ConnectionOptions {
  url?: string;
  token?: string;
  tenant?: string;
}

interface WatchOptions {
  watch?: boolean;
  interval: number;
  timeout?: number;
  quiet?: boolean;
}

const parseSeconds = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
};

function withConnection(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'your tenant endpoint, e.g. https://acme-corp.pipeline.frostbyte.io (default: $FROSTBYTE_URL)')
    .option('--token <jwt>', 'API token (default: $FROSTBYTE_TOKEN)')
    .option('--tenant <tenant_id>', "tenant id (default: the manifest's, or the token's)");
}

function withWatch(cmd: Command): Command {
  return cmd
    .option('--interval <seconds>', 'how often --watch polls the batch status', parseSeconds, 2)
    .option('--timeout <seconds>', 'stop watching after this long (exit 1); default: until the batch finishes', parseSeconds)
    .option('-q, --quiet', 'no progress output on stderr');
}

/** Token and tenant are checked before any byte is read or sent: a wrong one should not cost an upload. */
function connect(opts: ConnectionOptions, tenantHint?: string): VendorClient {
  const url = opts.url ?? process.env.FROSTBYTE_URL;
  if (!url) throw new CliError('pass --url <your tenant endpoint> (or set FROSTBYTE_URL)');
  const token = opts.token ?? process.env.FROSTBYTE_TOKEN;
  if (!token) throw new CliError('pass --token <jwt> (or set FROSTBYTE_TOKEN)');
  const claims = readTokenClaims(token);
  if (claims?.exp && claims.exp * 1000 < Date.now()) {
    throw new CliError(`the token expired at ${new Date(claims.exp * 1000).toISOString()}; ask your platform contact for a new one`);
  }
  const tenant = opts.tenant ?? tenantHint ?? claims?.tenant_id ?? undefined;
  if (!tenant) throw new CliError('pass --tenant <tenant_id>');
  if (tenantHint && opts.tenant && tenantHint !== opts.tenant) throw new CliError(`--tenant ${opts.tenant} is not the manifest's tenant_id (${tenantHint})`);
  if (claims?.tenant_id && claims.tenant_id !== tenant) throw new CliError(`the token is for tenant ${claims.tenant_id}, not ${tenant}`);
  return new VendorClient({ url, token, tenantId: tenant, userAgent: 'frostbyte-cli/0.1' });
}

/** Turns failures into a message on stderr and exit code 1; everything else sets its own code. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      if (e instanceof ApiError) for (const line of describeApiError(e)) err(line);
      else if (e instanceof CliError || e instanceof ManifestBuildError) err(`frostbyte: ${e.message}`);
      else if (e instanceof TypeError && e.message === 'fetch failed') err(`frostbyte: cannot reach the server: ${describeCause(e)}`);
      else throw e;
      process.exitCode = 1;
    }
  };
}

function describeCause(e: Error): string {
  const cause = e.cause as { code?: string; message?: string } | undefined;
  return cause?.message ?? cause?.code ?? e.message;
}

/** What went wrong and what to do, for the answers a vendor meets. */
function describeApiError(e: ApiError): string[] {
  const lines = [`frostbyte: ${e.message}`];
  for (const f of e.problem?.errors ?? []) lines.push(`  ${f.field}: ${f.message}`);
  const hint: Record<string, string> = {
    AUTHENTICATION_REQUIRED: 'send a token with --token or FROSTBYTE_TOKEN',
    TOKEN_EXPIRED: 'ask your platform contact for a new token',
    TOKEN_REVOKED: 'this token was revoked; ask your platform contact for a new one',
    INSUFFICIENT_PERMISSIONS: 'the token lacks the scope this needs (submit: ingest; status: ingest or query)',
    TENANT_MISMATCH: 'the token, the --url host and the tenant id must all name the same tenant',
    TENANT_SUSPENDED: 'the tenant is suspended; contact your platform contact',
    RATE_LIMIT_EXCEEDED: 'too many batches this minute; wait and run the command again',
    BATCH_ID_CONFLICT: 'this batch_id was used with a different manifest; pass a new --batch-id',
    MANIFEST_INVALID: 'fix the fields listed above (docs/vendor-guide.md, "The manifest"), or let `frostbyte manifest` build it',
    MANIFEST_FILE_COUNT_MISMATCH: 'every manifest entry needs exactly one file part with the same filename',
  };
  const h = e.code ? hint[e.code] : undefined;
  if (h) lines.push(`  → ${h}`);
  if (e.problem?.request_id) lines.push(`  request_id ${e.problem.request_id} (quote it to support)`);
  return lines;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── reading local files ─────────────────────────────────────────────────────────────────────

/** Hashes every file in one streaming pass each, with a progress bar for big sets. */
async function digestInputs(paths: readonly string[], mode: ProgressMode): Promise<FileDigest[]> {
  const { files, skipped } = await collectInputFiles(paths);
  for (const s of skipped) err(`skipped ${s.path}: ${s.why}`);
  const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  // A progress bar only pays off when hashing takes a moment (≥ 64 MiB).
  const bar = byteProgress(totalBytes >= 64 * 1024 * 1024 ? mode : 'none', { verb: 'hashing', totalBytes, filenames: files.map((f) => basename(f)) });
  const digests: FileDigest[] = [];
  let bytes = 0;
  for (const f of files) {
    digests.push(await digestFile(f, (n) => {
      bytes += n;
      bar.update({ bytes, filesDone: digests.length, current: digests.length });
    }));
  }
  bar.stop();
  return digests;
}

const factsOf = (d: FileDigest): LocalFileFacts => ({ filename: d.filename, size: d.size, sha256: d.sha256, mime: d.detected?.mime ?? null });

/** Manifest for local files, with the format warnings printed before anything is sent. */
function manifestFor(digests: FileDigest[], opts: { tenant: string; batchId?: string; submitter?: string; skipUnsupported?: boolean }) {
  const kept = opts.skipUnsupported ? digests.filter((d) => isSendable(factsOf(d))) : digests;
  if (opts.skipUnsupported) for (const d of digests) if (!kept.includes(d)) err(`left out ${d.filename}: intake would reject it as UNSUPPORTED_FORMAT`);
  const { manifest, warnings } = buildManifest({
    tenantId: opts.tenant,
    batchId: opts.batchId ?? newId('bat'),
    files: kept.map(factsOf),
    submitter: opts.submitter,
  });
  for (const w of warnings) err(`warning: ${w.filename} (${w.file_id}): ${w.message}`);
  if (warnings.some((w) => w.code === 'UNSUPPORTED_FORMAT' || w.code === 'EMPTY_FILE')) {
    err('         (pass --skip-unsupported to leave such files out; supported: PDF, DOCX, XLSX, PPTX, TXT, CSV, PNG, TIFF)');
  }
  return { manifest, files: kept.map((d): UploadFile => ({ path: d.path, filename: d.filename, size: d.size })) };
}

/**
 * The local files a saved manifest names (in `dir`), checked before sending: missing files stop
 * the command; a size or format that intake will refuse is a warning (the receipt will say so).
 */
async function filesForManifest(manifest: Manifest, dir: string): Promise<UploadFile[]> {
  const missing: string[] = [];
  const files: UploadFile[] = [];
  for (const entry of manifest.files) {
    const path = join(dir, entry.filename);
    const s = await stat(path).catch(() => null);
    if (!s?.isFile()) {
      missing.push(path);
      continue;
    }
    if (s.size !== entry.size_bytes) {
      err(`warning: ${entry.filename} (${entry.file_id}) is ${s.size} bytes on disk but ${entry.size_bytes} in the manifest; intake will reject it as CHECKSUM_MISMATCH`);
    }
    const head = await readHead(path);
    const detected = await detectFormat(head);
    if (!detected || !SUPPORTED_MIME_TYPES.includes(detected.mime)) {
      err(`warning: ${entry.filename} (${entry.file_id}): the bytes are not a supported format; intake will reject it as UNSUPPORTED_FORMAT`);
    }
    files.push({ path, filename: entry.filename, size: s.size });
  }
  if (missing.length) throw new CliError(`files named in the manifest are not in ${dir} (use --dir):\n${missing.map((m) => `  ${m}`).join('\n')}`);
  return files;
}

async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(SNIFF_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch(() => {
    throw new CliError(`${path}: cannot read it`);
  });
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CliError(`${path} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const isFile = async (path: string) => (await stat(path).catch(() => null))?.isFile() ?? false;
const isDirectory = async (path: string) => (await stat(path).catch(() => null))?.isDirectory() ?? false;

// ── sending and watching ────────────────────────────────────────────────────────────────────

/**
 * Streams the batch (manifest part, then each file read from disk as it goes), prints the receipt
 * table and writes the receipt next to `receiptPath`. A batch_id the tenant already has stops
 * before the upload: its receipt exists (`frostbyte status`), and a changed manifest would be refused.
 */
async function sendBatch(client: VendorClient, manifest: Manifest, files: UploadFile[], opts: { receiptPath: string; manifestCopy: boolean; mode: ProgressMode; watch?: boolean }) {
  const existing = await client.findBatch(manifest.batch_id);
  if (existing) {
    throw new CliError(`batch ${manifest.batch_id} was already submitted (status ${existing.status}); see it with \`frostbyte status ${manifest.batch_id}\`, or pass a new --batch-id`);
  }
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  const bar = byteProgress(opts.mode, { verb: 'uploading', totalBytes, filenames: files.map((f) => f.filename) });
  const upload = encodeBatchUpload(manifest, files, (p) => bar.update(p));
  let result: Awaited<ReturnType<VendorClient['submitBatch']>>;
  try {
    result = await client.submitBatch(upload.body, upload.contentType, upload.contentLength);
  } finally {
    bar.stop();
  }
  const { receipt, raw } = result;
  // With --watch the final status repeats each failure with what to do; the receipt need not.
  for (const line of formatReceipt(receipt, manifest, { advice: !opts.watch })) out(line);
  await writeFile(opts.receiptPath, `${JSON.stringify(JSON.parse(raw), null, 2)}\n`);
  err(`receipt written to ${opts.receiptPath}`);
  if (opts.manifestCopy) {
    const copy = manifestCopyPath(opts.receiptPath);
    await writeFile(copy, `${JSON.stringify(manifest, null, 2)}\n`);
    err(`manifest as sent written to ${copy}`);
  }
  return receipt;
}

/** Where the CLI keeps the manifest it built for a receipt (`receipt.json` → `receipt.manifest.json`). */
const manifestCopyPath = (receiptPath: string) => receiptPath.replace(/(\.json)?$/, '.manifest.json');

/** Polls the batch until every file is terminal, with per-stage progress; rides out brief outages and 429s. */
async function watchBatch(client: VendorClient, batchId: string, opts: WatchOptions): Promise<BatchStatusBody> {
  const progress = stageProgress(opts.quiet ? 'none' : progressMode());
  const deadline = opts.timeout ? Date.now() + opts.timeout * 1000 : Infinity;
  let failures = 0;
  try {
    for (;;) {
      let status: BatchStatusBody | null = null;
      let wait = opts.interval * 1000;
      try {
        status = await client.getBatch(batchId);
        failures = 0;
      } catch (e) {
        const transient = (e instanceof ApiError && (e.status === 429 || e.status >= 500)) || (e instanceof TypeError && e.message === 'fetch failed');
        if (!transient || ++failures > 5) throw e;
        wait = Math.min(30_000, wait * 2 ** failures);
        err(`status request failed (${e instanceof Error ? e.message : String(e)}); retrying in ${Math.round(wait / 1000)}s`);
      }
      if (status) {
        progress.update(status);
        if (status.status !== 'processing') return status;
      }
      if (Date.now() + wait > deadline) throw new CliError(`batch ${batchId} is still processing after ${opts.timeout}s; check again with \`frostbyte status ${batchId} --watch\``);
      await sleep(wait);
    }
  } finally {
    progress.stop();
  }
}

function finish(receipt: BatchReceiptBody | null, status: BatchStatusBody | null) {
  const filesOk = receipt ? everyFileAccepted(receipt) : true;
  const batchOk = status ? status.status === 'completed' : true;
  if (!filesOk || !batchOk) process.exitCode = EXIT_FILES_NOT_ACCEPTED;
}

async function followAndPrint(client: VendorClient, batchId: string, opts: WatchOptions) {
  const status = await watchBatch(client, batchId, opts);
  out('');
  for (const line of formatStatus(status)) out(line);
  return status;
}

// ── commands ────────────────────────────────────────────────────────────────────────────────

export function registerVendorCommands(program: Command) {
  program
    .command('manifest <paths...>')
    .description('build a batch manifest from a directory or files (SHA-256, size and type read from the bytes); JSON on stdout, warnings on stderr')
    .option('--tenant <tenant_id>', "your tenant id (default: the tenant of $FROSTBYTE_TOKEN)")
    .option('--batch-id <id>', 'batch id (default: a new bat_… id)')
    .option('--submitter <who>', 'who is sending (kept with the batch)')
    .option('--skip-unsupported', 'leave out files intake would reject by format instead of only warning')
    .option('-q, --quiet', 'no progress output on stderr')
    .action(action(async (paths: string[], opts: { tenant?: string; batchId?: string; submitter?: string; skipUnsupported?: boolean; quiet?: boolean }) => {
      const tenant = opts.tenant ?? readTokenClaims(process.env.FROSTBYTE_TOKEN ?? '')?.tenant_id ?? undefined;
      if (!tenant) throw new CliError('pass --tenant <tenant_id>');
      const digests = await digestInputs(paths, progressMode({ quiet: opts.quiet }));
      const { manifest } = manifestFor(digests, { ...opts, tenant });
      out(JSON.stringify(manifest, null, 2));
      const bytes = manifest.files.reduce((n, f) => n + f.size_bytes, 0);
      err(`manifest: batch ${manifest.batch_id}, ${manifest.file_count} files, ${bytes} bytes`);
    }));

  withWatch(withConnection(program.command('submit <dir|manifest.json>')))
    .description('send a batch: a directory (the manifest is built for you) or a manifest.json whose files sit next to it (or in --dir)')
    .option('--dir <dir>', "where a manifest's files are (default: the manifest's directory)")
    .option('--batch-id <id>', 'batch id when submitting a directory (default: a new bat_… id)')
    .option('--submitter <who>', 'who is sending (kept with the batch)')
    .option('--skip-unsupported', 'leave out files intake would reject by format')
    .option('--receipt <path>', 'where to write the receipt (default: receipt.json next to the manifest, or in the current directory)')
    .option('--watch', 'follow the batch until every file is indexed or failed')
    .action(action(async (source: string, opts: ConnectionOptions & WatchOptions & { dir?: string; batchId?: string; submitter?: string; skipUnsupported?: boolean; receipt?: string }) => {
      const mode = progressMode({ quiet: opts.quiet });
      let client: VendorClient;
      let manifest: Manifest;
      let files: UploadFile[];
      let receiptPath: string;
      const fromDirectory = await isDirectory(source);
      if (fromDirectory) {
        client = connect(opts);
        ({ manifest, files } = manifestFor(await digestInputs([source], mode), { ...opts, tenant: client.tenantId }));
        receiptPath = resolve(opts.receipt ?? 'receipt.json');
      } else if (await isFile(source)) {
        if (opts.batchId) throw new CliError('--batch-id is for directories; a manifest carries its own batch_id');
        manifest = parseManifest(await readJsonFile(source));
        client = connect(opts, manifest.tenant_id);
        files = await filesForManifest(manifest, resolve(opts.dir ?? dirname(source)));
        receiptPath = resolve(opts.receipt ?? join(dirname(source), 'receipt.json'));
      } else throw new CliError(`${source}: no such directory or manifest file`);

      const receipt = await sendBatch(client, manifest, files, { receiptPath, manifestCopy: fromDirectory, mode, watch: opts.watch });
      const status = opts.watch ? await followAndPrint(client, manifest.batch_id, opts) : null;
      finish(receipt, status);
    }));

  withWatch(withConnection(program.command('status <batch_id>')))
    .description('where every file of a batch is; --watch follows it until it finishes')
    .option('--watch', 'poll until every file is indexed or failed (exit 0 only when the batch completed)')
    .option('--json', 'print the status JSON as the API returns it')
    .option('--report', 'print the acceptance report (Markdown) after the status')
    .action(action(async (batchId: string, opts: ConnectionOptions & WatchOptions & { json?: boolean; report?: boolean }) => {
      const client = connect(opts);
      const status = opts.watch ? await watchBatch(client, batchId, opts) : await client.getBatch(batchId);
      if (opts.json) out(JSON.stringify(status, null, 2));
      else for (const line of formatStatus(status)) out(line);
      if (opts.report) {
        out('');
        out((await client.getReportMarkdown(batchId)).trimEnd());
      }
      if (opts.watch) finish(null, status);
    }));

  withWatch(withConnection(program.command('resubmit')))
    .description('send only the files an earlier batch rejected, in a new batch')
    .requiredOption('--rejected <receipt.json|batch_id>', 'the earlier batch: its receipt file, or its batch_id')
    .requiredOption('--dir <dir>', 'the directory that holds the (corrected) files')
    .option('--fix-hashes', 'take SHA-256, size and type from the files on disk and report what changed')
    .option('--manifest <path>', 'the manifest of the earlier batch (default: the one saved next to the receipt)')
    .option('--batch-id <id>', 'id of the new batch (default: <old id>-r1, -r2, …)')
    .option('--receipt <path>', 'where to write the new receipt (default: receipt-<new batch id>.json next to the old receipt)')
    .option('--dry-run', 'show what would be sent and stop')
    .option('--watch', 'follow the new batch until it finishes')
    .action(action(async (opts: ConnectionOptions & WatchOptions & { rejected: string; dir: string; fixHashes?: boolean; manifest?: string; batchId?: string; receipt?: string; dryRun?: boolean }) => {
      const mode = progressMode({ quiet: opts.quiet });
      let batchId = opts.rejected;
      let receiptDir = process.cwd();
      let tenantHint: string | undefined;
      const manifestCandidates: string[] = opts.manifest ? [opts.manifest] : [];
      if (await isFile(opts.rejected)) {
        const parsed = v.safeParse(BatchReceiptSchema, await readJsonFile(opts.rejected));
        if (!parsed.success) throw new CliError(`${opts.rejected} is not a Frostbyte receipt`);
        batchId = parsed.output.batch_id;
        tenantHint = parsed.output.tenant_id;
        receiptDir = dirname(resolve(opts.rejected));
        if (!opts.manifest) manifestCandidates.push(manifestCopyPath(opts.rejected), join(receiptDir, 'manifest.json'));
      }
      const client = connect(opts, tenantHint);
      const original = await findManifest(manifestCandidates, batchId, !!opts.manifest);

      const status = await client.getBatch(batchId);
      const { resend, leftOut } = rejectedFilesOf(status);
      for (const f of leftOut) err(`not resending ${f.file_id} (${f.status}${f.reason ? `, ${f.reason}` : ''}): ${f.status === 'quarantined' ? 'quarantined files are not resent' : 'support retries pipeline failures with `frostbyte retry`'}`);
      if (!resend.length) {
        out(`nothing to resubmit: no file of batch ${batchId} was rejected`);
        return;
      }

      const dir = resolve(opts.dir);
      const disk = new Map<string, LocalFileFacts | null>();
      for (const r of resend) {
        const path = join(dir, r.filename);
        disk.set(r.file_id, (await isFile(path)) ? factsOf(await digestFile(path)) : null);
      }
      const plan = planResubmit({ rejected: resend, disk, original, fixHashes: !!opts.fixHashes });
      for (const note of plan.notes) err(`note: ${note}`);
      if (plan.problems.length) throw new CliError(`cannot resubmit:\n${plan.problems.map((p) => `  ${p}`).join('\n')}`);

      out(`resending ${plan.entries.length} rejected file(s) of batch ${batchId}: ${resend.map((r) => `${r.file_id} (${r.reason})`).join(', ')}`);
      if (opts.fixHashes) {
        if (plan.changes.length) {
          out('changed from the original manifest:');
          for (const line of formatTable(['FILE_ID', 'FIELD', 'MANIFEST', 'ON DISK'], plan.changes.map((c) => [c.file_id, c.field, c.before === null ? '(unknown)' : String(c.before), String(c.after)]))) out(`  ${line}`);
        } else out('hash, size and type on disk are the same as in the original manifest');
      }

      let newBatchId = opts.batchId;
      if (!newBatchId) {
        for (const candidate of resubmitBatchIds(batchId)) {
          if (!(await client.findBatch(candidate))) {
            newBatchId = candidate;
            break;
          }
        }
      }
      const manifest = parseManifest({
        batch_id: newBatchId,
        tenant_id: client.tenantId,
        file_count: plan.entries.length,
        files: plan.entries,
        ...(original?.submitter ? { submitter: original.submitter } : {}),
      });
      if (opts.dryRun) {
        out(JSON.stringify(manifest, null, 2));
        return;
      }
      const files = plan.entries.map((e): UploadFile => {
        const facts = disk.get(e.file_id);
        return { path: join(dir, e.filename), filename: e.filename, size: facts?.size ?? e.size_bytes };
      });
      const receiptPath = resolve(opts.receipt ?? join(receiptDir, `receipt-${manifest.batch_id}.json`));
      out('');
      const receipt = await sendBatch(client, manifest, files, { receiptPath, manifestCopy: true, mode, watch: opts.watch });
      const finalStatus = opts.watch ? await followAndPrint(client, manifest.batch_id, opts) : null;
      finish(receipt, finalStatus);
    }));
}

/** The original manifest for `batchId`: the first candidate file that parses and names that batch. */
async function findManifest(candidates: string[], batchId: string, explicit: boolean): Promise<Manifest | null> {
  for (const path of candidates) {
    if (!(await isFile(path))) {
      if (explicit) throw new CliError(`${path}: no such manifest file`);
      continue;
    }
    let m: Manifest;
    try {
      m = parseManifest(await readJsonFile(path));
    } catch (e) {
      if (explicit) throw e;
      continue;
    }
    if (m.batch_id === batchId) return m;
    if (explicit) throw new CliError(`${path} is the manifest of batch ${m.batch_id}, not ${batchId}`);
  }
  return null;
}
