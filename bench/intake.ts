/**
 * `npm run bench:intake` — intake throughput and memory on the embedded default.
 *
 * 1. Generates 1 GiB of text in 100 files, submits them as one batch with curl (streamed from
 *    disk) to a running server, and times `sha256sum` over the same files in the same run:
 *    prints intake wall time / sha256sum time (goal ≤ 2.0).
 * 2. Sends one 512 MiB file and samples the server's RSS while it is received: prints the peak
 *    growth over the idle RSS (goal ≤ 128 MiB, i.e. memory does not grow with file size).
 *
 * Sizes can be scaled down for a quick look: BENCH_TOTAL_MB=256 BENCH_FILES=20 BENCH_BIG_MB=128.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, settled, startServerProcess } from '../tests/helpers/server-process';

const MiB = 1024 * 1024;
const TOTAL_MB = Number(process.env.BENCH_TOTAL_MB ?? 1024);
const FILES = Number(process.env.BENCH_FILES ?? 100);
const BIG_MB = Number(process.env.BENCH_BIG_MB ?? 512);
const log = (s: string) => process.stderr.write(`${s}\n`);

/** Text that passes the text sniffing: words from a small vocabulary, random order. */
function writeTextFile(path: string, bytes: number): string {
  const words = 'agreement party term notice payment invoice service clause liability renewal termination schedule exhibit warranty'.split(' ');
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(MiB);
  let written = 0;
  while (written < bytes) {
    const rnd = randomBytes(MiB / 4);
    let off = 0;
    let i = 0;
    while (off < block.length - 16) {
      const w = words[rnd[i++ % rnd.length] % words.length];
      off += block.write(i % 12 === 0 ? `${w}.\n` : `${w} `, off, 'ascii');
    }
    block.fill(0x20, off);
    const chunk = block.subarray(0, Math.min(block.length, bytes - written));
    writeSync(fd, chunk);
    hash.update(chunk);
    written += chunk.length;
  }
  closeSync(fd);
  return hash.digest('hex');
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

async function main() {
  const root = mkdtempSync(join(tmpdir(), 'frostbyte-bench-intake-'));
  const files = join(root, 'files');
  mkdirSync(files);
  try {
    const per = Math.floor((TOTAL_MB * MiB) / FILES);
    log(`generating ${FILES} files × ${(per / MiB).toFixed(1)} MiB in ${files}`);
    const entries = [];
    for (let i = 0; i < FILES; i++) {
      const name = `doc_${String(i).padStart(3, '0')}.txt`;
      entries.push({ file_id: `f${i}`, filename: name, mime_type: 'text/plain', size_bytes: per, sha256: writeTextFile(join(files, name), per) });
      if (i % 10 === 9) log(`  ${i + 1}/${FILES}`);
    }
    const bigName = 'big.txt';
    log(`generating one ${BIG_MB} MiB file`);
    const bigSha = writeTextFile(join(root, bigName), BIG_MB * MiB);

    const dataEnv = (name: string) => ({ FROSTBYTE_DATA_DIR: join(root, name), MAX_FILE_SIZE_MB: String(Math.max(1024, BIG_MB + 1)) });
    const tokenOf = (out: string) => /export TOKEN=(\S+)/.exec(out)?.[1] ?? '';

    // Baseline first, on an idle machine.
    log('timing sha256sum over the files');
    const t1 = performance.now();
    const sum = await run('sha256sum', entries.map((e) => e.filename), { cwd: files });
    const shaMs = performance.now() - t1;
    if (sum.code !== 0) throw new Error(sum.stderr);

    // Throughput: one server, one batch; the server is stopped right after the receipt, so the
    // parsing that follows does not share the machine with anything measured.
    writeFileSync(join(files, 'manifest.json'), JSON.stringify({ batch_id: 'bench-1', tenant_id: 'demo', file_count: FILES, files: entries }));
    let intakeMs: number;
    {
      const server = await startServerProcess(dataEnv('data-a'), { waitFor: /export TOKEN=/ });
      try {
        await settled(server.child.pid, log);
        log(`submitting ${FILES} files (${TOTAL_MB} MiB) with curl`);
        const t0 = performance.now();
        const res = await run('curl', ['-sS', '--fail-with-body', '-H', `Authorization: Bearer ${tokenOf(server.output())}`, '-F', 'manifest=@manifest.json;type=application/json', ...entries.flatMap((e) => ['-F', `files=@${e.filename}`]), `${server.url}/api/v1/ingest/demo/batch`], { cwd: files });
        intakeMs = performance.now() - t0;
        if (res.code !== 0) throw new Error(`submit failed: ${res.stdout} ${res.stderr}`);
        const receipt = JSON.parse(res.stdout);
        if (receipt.accepted !== FILES) throw new Error(`expected ${FILES} accepted, got ${JSON.stringify(receipt).slice(0, 500)}`);
      } finally {
        await server.stop('SIGKILL');
      }
    }

    // Memory: a fresh idle server receives one big file while its RSS is sampled every 20 ms.
    let growthMb: number;
    let idleMb: number;
    {
      const server = await startServerProcess(dataEnv('data-b'), { waitFor: /export TOKEN=/ });
      try {
        await settled(server.child.pid, log);
        const pid = server.child.pid as number;
        const idle = rssKb(pid);
        let peak = idle;
        const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 20);
        writeFileSync(join(root, 'manifest-big.json'), JSON.stringify({ batch_id: 'bench-big', tenant_id: 'demo', file_count: 1, files: [{ file_id: 'big', filename: bigName, mime_type: 'text/plain', size_bytes: BIG_MB * MiB, sha256: bigSha }] }));
        log(`submitting one ${BIG_MB} MiB file while sampling the server's RSS`);
        const big = await run('curl', ['-sS', '--fail-with-body', '-H', `Authorization: Bearer ${tokenOf(server.output())}`, '-F', 'manifest=@manifest-big.json;type=application/json', '-F', `files=@${bigName}`, `${server.url}/api/v1/ingest/demo/batch`], { cwd: root });
        clearInterval(sampler);
        if (big.code !== 0 || JSON.parse(big.stdout).accepted !== 1) throw new Error(`big submit failed: ${big.stdout}`);
        growthMb = (peak - idle) / 1024;
        idleMb = idle / 1024;
      } finally {
        await server.stop('SIGKILL');
      }
    }

    const ratio = intakeMs / shaMs;
    console.log(`load average (1/5/15 min, ${availableParallelism()} cores): ${loadavg().map((l) => l.toFixed(2)).join(' / ')} — ratios swing when other work shares the cores`);
    console.log(`intake: ${FILES} files, ${TOTAL_MB} MiB in ${(intakeMs / 1000).toFixed(2)} s (${(TOTAL_MB / (intakeMs / 1000)).toFixed(0)} MiB/s)`);
    console.log(`sha256sum baseline: ${(shaMs / 1000).toFixed(2)} s (${(TOTAL_MB / (shaMs / 1000)).toFixed(0)} MiB/s)`);
    console.log(`ratio intake / sha256sum: ${ratio.toFixed(2)} (goal ≤ 2.0) ${ratio <= 2 ? 'OK' : 'MISSED'}`);
    console.log(`peak RSS growth receiving one ${BIG_MB} MiB file: ${growthMb.toFixed(1)} MiB (idle ${idleMb.toFixed(0)} MiB; goal ≤ 128 MiB) ${growthMb <= 128 ? 'OK' : 'MISSED'}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
