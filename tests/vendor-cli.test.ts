import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestSchema, type Manifest } from '../shared/intake/manifest';
import { BatchReceiptSchema, type BatchReceiptBody } from '../shared/vendor/api-schemas';
import { sha256, tinyPdf } from './helpers/batch';
import { runCli, startServerProcess, type ServerProcess } from './helpers/server-process';

/**
 * The vendor CLI end to end against `npm start`, the way Dana uses it: build a manifest, submit
 * it with progress and --watch, fix the one file that changed after hashing and resubmit only
 * that one. The server is a real process on a temp data dir; the CLI is run as a user runs it.
 */
describe('frostbyte manifest / submit / status / resubmit', () => {
  let dataDir: string;
  let work: string;
  let docs: string;
  let server: ServerProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'frostbyte-vendor-'));
    work = mkdtempSync(join(tmpdir(), 'frostbyte-vendor-work-'));
    docs = join(work, 'batch');
    server = await startServerProcess({ FROSTBYTE_DATA_DIR: dataDir }, { waitFor: /export TOKEN=/ });
    const token = /export TOKEN=(\S+)/.exec(server.output())?.[1] ?? '';
    // The embedded default's demo tenant and its printed token (scopes ingest, query).
    env = { FROSTBYTE_URL: server.url, FROSTBYTE_TOKEN: token };
    await import('node:fs/promises').then((fs) => fs.mkdir(docs));
    writeFileSync(join(docs, 'contract_001.pdf'), tinyPdf('Master services agreement between Acme Corp and Frostbyte'));
    writeFileSync(join(docs, 'contract_002.pdf'), tinyPdf('Data processing addendum: delete personal data within 30 days'));
    writeFileSync(join(docs, 'notes.txt'), 'Statement of work: migrate the invoice archive by 31 March 2026.\n');
    // GIF is not a format Frostbyte parses: the manifest step must say so before anything is sent.
    writeFileSync(join(docs, 'logo.gif'), Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64'));
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('builds a manifest from a directory: ids from names, types and hashes from the bytes, a warning for the GIF', async () => {
    const r = await runCli(['manifest', docs, '--tenant', 'demo', '--batch-id', 'dana-001'], env);
    expect(r.code, r.stderr).toBe(0);
    const manifest = v.parse(ManifestSchema, JSON.parse(r.stdout));
    expect(manifest).toMatchObject({ batch_id: 'dana-001', tenant_id: 'demo', file_count: 4 });
    expect(manifest.files.map((f) => [f.file_id, f.filename, f.mime_type])).toEqual([
      ['contract_001', 'contract_001.pdf', 'application/pdf'],
      ['contract_002', 'contract_002.pdf', 'application/pdf'],
      ['logo', 'logo.gif', 'application/octet-stream'],
      ['notes', 'notes.txt', 'text/plain'],
    ]);
    for (const f of manifest.files) {
      const bytes = readFileSync(join(docs, f.filename));
      expect(f).toMatchObject({ sha256: sha256(bytes), size_bytes: bytes.length });
    }
    expect(r.stderr).toMatch(/warning: logo\.gif \(logo\): .*UNSUPPORTED_FORMAT/);

    const skipped = await runCli(['manifest', docs, '--tenant', 'demo', '--skip-unsupported'], env);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stderr).toContain('left out logo.gif');
    expect((JSON.parse(skipped.stdout) as Manifest).files.map((f) => f.file_id)).toEqual(['contract_001', 'contract_002', 'notes']);
  }, 30_000);

  it('submits with --watch, reports the file that changed after hashing, and resubmits only that one with --fix-hashes', async () => {
    const built = await runCli(['manifest', docs, '--tenant', 'demo', '--batch-id', 'dana-002', '--skip-unsupported'], env);
    expect(built.code, built.stderr).toBe(0);
    const manifestPath = join(work, 'manifest.json');
    writeFileSync(manifestPath, built.stdout);
    // Dana edits a file after hashing it: intake must catch that.
    await appendFile(join(docs, 'notes.txt'), 'Amended: the deadline moves to 15 April 2026.\n');
    const changedSha = sha256(readFileSync(join(docs, 'notes.txt')));

    const sent = await runCli(['submit', manifestPath, '--dir', docs, '--watch', '--interval', '0.3'], env);
    expect(sent.code, `${sent.stdout}\n${sent.stderr}`).toBe(2);
    expect(sent.stderr).toMatch(/notes\.txt \(notes\) is \d+ bytes on disk but 65 in the manifest/);
    // Piped stderr: plain progress lines (every 2 s, then a summary), then per-stage lines while watching.
    expect(sent.stderr).toMatch(/uploading finished: 3\/3 files, [\d.]+ \w+ in \d+s/);
    expect(sent.stderr).toMatch(/dana-002: completed_with_errors · intake 3\/3 \(1 failed\) · parse 2\/2 · index 2\/2/);
    expect(sent.stdout).toMatch(/3 files: 2 accepted, 0 duplicate, 1 rejected, 0 quarantined/);
    expect(sent.stdout).toMatch(/notes\s+notes\.txt\s+rejected\s+CHECKSUM_MISMATCH/);
    expect(sent.stdout).toMatch(/batch dana-002 · tenant demo · completed_with_errors/);
    expect(sent.stdout).toMatch(/contract_001\s+contract_001\.pdf\s+indexed\s+done\s+done\s+done/);
    expect(sent.stdout).toContain(`computed ${changedSha}`);

    // receipt.json next to the manifest: the receipt as the API sent it, in the documented shape.
    const receiptPath = join(work, 'receipt.json');
    const receipt = JSON.parse(await readFile(receiptPath, 'utf8')) as BatchReceiptBody;
    expect(v.safeParse(BatchReceiptSchema, receipt).success).toBe(true);
    expect(receipt).toMatchObject({ batch_id: 'dana-002', accepted: 2, rejected: 1, rejected_files: [{ file_id: 'notes', reason: 'CHECKSUM_MISMATCH' }] });
    const openapi = (await (await fetch(`${server.url}/openapi.json`)).json()) as { components: Record<string, unknown> };
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    ajv.addSchema({ $id: 'doc', components: openapi.components });
    expect(ajv.validate({ $ref: 'doc#/components/schemas/BatchReceipt' }, receipt), ajv.errorsText()).toBe(true);

    // Without --fix-hashes the CLI refuses to send bytes it knows will be rejected again.
    const refused = await runCli(['resubmit', '--rejected', receiptPath, '--dir', docs], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`notes.txt on disk has SHA-256 ${changedSha}`);
    expect(refused.stderr).toContain('rerun with --fix-hashes');

    const resent = await runCli(['resubmit', '--rejected', receiptPath, '--dir', docs, '--fix-hashes', '--watch', '--interval', '0.3'], env);
    expect(resent.code, `${resent.stdout}\n${resent.stderr}`).toBe(0);
    const original = v.parse(ManifestSchema, JSON.parse(built.stdout));
    expect(resent.stdout).toContain('resending 1 rejected file(s) of batch dana-002: notes (CHECKSUM_MISMATCH)');
    expect(resent.stdout).toMatch(new RegExp(`notes\\s+sha256\\s+${original.files[2].sha256}\\s+${changedSha}`));
    expect(resent.stdout).toMatch(/notes\s+size_bytes\s+65\s+\d+/);
    expect(resent.stdout).toMatch(/batch dana-002-r1 · tenant demo · received/);
    expect(resent.stdout).toMatch(/1 files: 1 accepted/);
    expect(resent.stdout).toMatch(/batch dana-002-r1 · tenant demo · completed ·/);
    const newReceipt = JSON.parse(await readFile(join(work, 'receipt-dana-002-r1.json'), 'utf8')) as BatchReceiptBody;
    expect(newReceipt).toMatchObject({ batch_id: 'dana-002-r1', file_count: 1, accepted: 1, receipts: [{ file_id: 'notes', status: 'accepted', sha256: changedSha }] });
    const sentManifest = v.parse(ManifestSchema, JSON.parse(await readFile(join(work, 'receipt-dana-002-r1.manifest.json'), 'utf8')));
    expect(sentManifest.files).toEqual([{ ...original.files[2], sha256: changedSha, size_bytes: readFileSync(join(docs, 'notes.txt')).length }]);

    // status: a table and exit 0; with --watch the exit code says whether the batch completed.
    const status = await runCli(['status', 'dana-002-r1'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/notes\s+notes\.txt\s+indexed\s+done\s+done\s+done/);
    const watched = await runCli(['status', 'dana-002', '--watch', '--report'], env);
    expect(watched.code).toBe(2);
    expect(watched.stdout).toContain('# Acceptance report — batch dana-002');

    // Nothing left to resend once the new batch took everything.
    const again = await runCli(['resubmit', '--rejected', join(work, 'receipt-dana-002-r1.json'), '--dir', docs], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to resubmit');
  }, 120_000);

  it('stops before uploading when the token is for another tenant or the batch_id is taken', async () => {
    const wrongTenant = await runCli(['submit', docs, '--tenant', 'acme-corp', '--receipt', join(work, 'x.json')], env);
    expect(wrongTenant.code).toBe(1);
    expect(wrongTenant.stderr).toContain('the token is for tenant demo, not acme-corp');

    const taken = await runCli(['submit', docs, '--batch-id', 'dana-002', '--skip-unsupported', '--receipt', join(work, 'y.json')], env);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('batch dana-002 was already submitted (status completed_with_errors)');
    expect(existsSync(join(work, 'y.json'))).toBe(false);

    const badToken = await runCli(['status', 'dana-002', '--tenant', 'demo'], { ...env, FROSTBYTE_TOKEN: 'not-a-token' });
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/frostbyte: 40[13] /);
  }, 60_000);

  it('streams a large file without holding it in memory, with a progress bar on a terminal', async () => {
    const big = join(work, 'big');
    await import('node:fs/promises').then((fs) => fs.mkdir(big));
    // 128 MiB of zeros (sparse, so the test does not need the disk space): intake streams and
    // hashes all of it, then rejects it by format — nothing is parsed.
    const size = 128 * 1024 * 1024;
    const fd = openSync(join(big, 'archive.bin'), 'w');
    closeSync(fd);
    await import('node:fs/promises').then((fs) => fs.truncate(join(big, 'archive.bin'), size));

    // Baseline: the same process hashing the same file (node, tsx, the CLI's modules, read buffers).
    const hashing = await runCliMeasured(['manifest', big, '--tenant', 'demo'], env);
    expect(hashing.code, hashing.stderr).toBe(0);
    const { code, stdout, stderr, peakRssBytes } = await runCliMeasured(['submit', big, '--batch-id', 'big-001', '--receipt', join(work, 'big-receipt.json')], env);
    expect(code, stderr).toBe(2);
    expect(stdout).toMatch(/archive\s+archive\.bin\s+rejected\s+UNSUPPORTED_FORMAT/);
    const receipt = JSON.parse(readFileSync(join(work, 'big-receipt.json'), 'utf8')) as BatchReceiptBody;
    expect(receipt.receipts[0].sha256).toBe('254bcc3fc4f27172636df4bf32de9f107f620d559b20d760197e452b97453917');
    // Sending adds far less than the file's size on top of hashing it (measured: ~35 MiB; when
    // fetch was left to follow redirects it teed the body and held every byte sent).
    expect(hashing.peakRssBytes).toBeGreaterThan(0);
    expect(peakRssBytes - hashing.peakRssBytes).toBeLessThan(80 * 1024 * 1024);

    // On a terminal (a pseudo-terminal from util-linux `script`) the same upload draws a bar.
    const tty = await runInTerminal(['submit', big, '--batch-id', 'big-002', '--receipt', join(work, 'big-receipt-2.json')], env);
    expect(tty).toMatch(/uploading \[█+\] 100% \| 128 MiB\/128 MiB \| files 1\/1 \| [\d.]+ \w+\/s \| ETA 0s/);
    expect(tty).toMatch(/hashing \[[█░]+\]/);
  }, 120_000);
});

/** Runs the CLI and samples its peak resident memory (VmHWM) until it exits. */
function runCliMeasured(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; peakRssBytes: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/frostbyte.mjs', ...args], { cwd: process.cwd(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const sample = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      } catch {
        // The process has just exited.
      }
    }, 50);
    child.on('exit', (code) => {
      clearInterval(sample);
      resolve({ code, stdout, stderr, peakRssBytes: peak });
    });
  });
}

/** Runs the CLI under a pseudo-terminal and returns everything it drew. */
function runInTerminal(args: string[], env: Record<string, string>): Promise<string> {
  const command = [process.execPath, 'bin/frostbyte.mjs', ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: process.cwd(), env: { ...process.env, ...env, COLUMNS: '160' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', () => resolve(out));
  });
}
