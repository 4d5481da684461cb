import cliProgress from 'cli-progress';
import type { BatchStatusBody } from '../vendor/api-schemas';
import { formatBytes, formatDuration, formatStageLine, stageCounts } from '../vendor/format';

/**
 * Progress for long CLI work (DESIGN §9), on stderr so stdout stays data: a redrawn bar on a
 * terminal, plain lines when stderr is piped or a file (CI logs, `2> log`), or nothing.
 */
export type ProgressMode = 'bar' | 'lines' | 'none';

export function progressMode(opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): ProgressMode {
  if (opts.quiet) return 'none';
  return (opts.stream ?? process.stderr).isTTY ? 'bar' : 'lines';
}

/** How often a plain-lines reporter prints (ms). */
const LINE_INTERVAL_MS = 2_000;

/** Bytes/second over a sliding window, so the rate and ETA follow the current speed. */
class RateMeter {
  private samples: { t: number; bytes: number }[] = [];
  constructor(private readonly windowMs = 5_000, private readonly now = () => Date.now()) {}
  add(bytes: number) {
    const t = this.now();
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[0].t > this.windowMs) this.samples.shift();
  }
  rate(): number {
    if (this.samples.length < 2) return 0;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const dt = (last.t - first.t) / 1000;
    return dt > 0 ? (last.bytes - first.bytes) / dt : 0;
  }
}

export interface ByteProgress {
  update(p: { bytes: number; filesDone: number; current: number }): void;
  stop(): void;
}

/**
 * Upload (or hashing) progress: bytes, files, rate and ETA. `verb` names the work ("uploading",
 * "hashing"); `filenames[current]` is shown in line mode so a stuck file is visible.
 */
export function byteProgress(mode: ProgressMode, opts: { verb: string; totalBytes: number; filenames: readonly string[]; stream?: NodeJS.WriteStream }): ByteProgress {
  const stream = opts.stream ?? process.stderr;
  const totalFiles = opts.filenames.length;
  const meter = new RateMeter();
  const started = Date.now();
  meter.add(0);
  const describe = (bytes: number, filesDone: number) => {
    const rate = meter.rate();
    const eta = rate > 0 ? (opts.totalBytes - bytes) / rate : Number.NaN;
    return {
      sent: formatBytes(bytes),
      size: formatBytes(opts.totalBytes),
      files: `${filesDone}/${totalFiles}`,
      rate: `${formatBytes(Math.round(rate))}/s`,
      remaining: bytes >= opts.totalBytes ? '0s' : formatDuration(eta),
    };
  };

  if (mode === 'none') return { update: () => {}, stop: () => {} };

  if (mode === 'lines') {
    // A line every few seconds while work is going on (a log should not get one line per file of
    // a 10,000-file batch), then one summary line.
    let lastLine = Date.now();
    let last = { bytes: 0, filesDone: 0, current: -1 };
    return {
      update(p) {
        meter.add(p.bytes);
        last = p;
        if (Date.now() - lastLine < LINE_INTERVAL_MS) return;
        const d = describe(p.bytes, p.filesDone);
        const at = p.current >= 0 ? ` · at ${opts.filenames[p.current]}` : '';
        stream.write(`${opts.verb} ${d.files} files · ${d.sent} of ${d.size} · ${d.rate} · ETA ${d.remaining}${at}\n`);
        lastLine = Date.now();
      },
      stop() {
        const seconds = (Date.now() - started) / 1000;
        const rate = seconds > 0 ? ` (${formatBytes(Math.round(last.bytes / seconds))}/s)` : '';
        stream.write(`${opts.verb} finished: ${last.filesDone}/${totalFiles} files, ${formatBytes(last.bytes)} in ${formatDuration(seconds)}${rate}\n`);
      },
    };
  }

  const bar = new cliProgress.SingleBar(
    {
      stream,
      // `remaining`, not cli-progress's own `eta`: ours follows the rate of the last few seconds.
      format: `${opts.verb} [{bar}] {percentage}% | {sent}/{size} | files {files} | {rate} | ETA {remaining}`,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      fps: 8,
    },
    cliProgress.Presets.shades_classic,
  );
  // cli-progress's bar wants a positive total; an all-empty upload still shows 100%.
  bar.start(Math.max(opts.totalBytes, 1), 0, describe(0, 0));
  let last = { bytes: 0, filesDone: 0 };
  return {
    update(p) {
      meter.add(p.bytes);
      last = p;
      bar.update(p.bytes, describe(p.bytes, p.filesDone));
    },
    stop() {
      bar.update(Math.max(opts.totalBytes, 1), describe(last.bytes, last.filesDone));
      bar.stop();
    },
  };
}

export interface StageProgress {
  update(status: BatchStatusBody): void;
  stop(): void;
}

/** Watching a batch: one bar per stage (intake, parse, index) on a terminal, a line per change otherwise. */
export function stageProgress(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): StageProgress {
  if (mode === 'none') return { update: () => {}, stop: () => {} };
  if (mode === 'lines') {
    let last = '';
    return {
      update(status) {
        const line = formatStageLine(status);
        if (line !== last) stream.write(`${line}\n`);
        last = line;
      },
      stop() {},
    };
  }
  const multi = new cliProgress.MultiBar(
    { stream, format: '{stage} [{bar}] {value}/{total} {note}', barsize: 24, hideCursor: true, clearOnComplete: false, fps: 4 },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    update(status) {
      const counts = stageCounts(status);
      for (const name of ['intake', 'parse', 'index'] as const) {
        const c = counts[name];
        const note = [c.running ? `${c.running} running` : '', c.failed ? `${c.failed} failed` : ''].filter(Boolean).join(', ');
        const payload = { stage: name.padEnd(6), note };
        const existing = bars.get(name);
        if (existing) {
          existing.setTotal(Math.max(c.total, 1));
          existing.update(c.done + c.failed, payload);
        } else bars.set(name, multi.create(Math.max(c.total, 1), c.done + c.failed, payload));
      }
    },
    stop() {
      multi.stop();
    },
  };
}
