import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';

/**
 * PGlite is single-process: the server and the CLI must not open the same data dir at once.
 * proper-lockfile keeps a lock folder fresh while we hold it; we also record the holder's pid,
 * so a lock left by a process that was killed is taken over at once instead of after the
 * staleness window.
 */
export async function lockDataDir(dataDir: string, holder: string): Promise<() => Promise<void>> {
  mkdirSync(dataDir, { recursive: true });
  const lockPath = join(dataDir, '.lock');
  const pidFile = join(dataDir, '.lock.pid');
  const take = () => lockfile.lock(dataDir, { lockfilePath: lockPath, stale: 10_000, update: 2_000, retries: 0 });
  let release: () => Promise<void>;
  try {
    release = await take();
  } catch (e) {
    if ((e as { code?: string }).code !== 'ELOCKED') throw e;
    const pid = Number(readPid(pidFile));
    if (pid && !isAlive(pid)) {
      rmSync(lockPath, { recursive: true, force: true });
      release = await take().catch((again: unknown) => {
        throw (again as { code?: string }).code === 'ELOCKED' ? inUse(dataDir, holder) : again;
      });
    } else {
      throw inUse(dataDir, holder);
    }
  }
  writeFileSync(pidFile, String(process.pid));
  return async () => {
    rmSync(pidFile, { force: true });
    await release();
  };
}

function inUse(dataDir: string, holder: string) {
  return new Error(
    `${holder}: the data dir ${dataDir} is in use by another Frostbyte process (the server or the CLI). ` +
      'Stop it first, or use the admin API of the running server.',
  );
}

function readPid(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}
