import { mkdirSync } from 'node:fs';
import lockfile from 'proper-lockfile';

/**
 * PGlite is single-process: the server and the CLI must not open the same data dir at once.
 * proper-lockfile keeps a lock folder fresh while we hold it, so a crashed holder goes stale.
 */
export async function lockDataDir(dataDir: string, holder: string): Promise<() => Promise<void>> {
  mkdirSync(dataDir, { recursive: true });
  try {
    const release = await lockfile.lock(dataDir, { lockfilePath: `${dataDir}/.lock`, stale: 10_000, update: 2_000, retries: 0 });
    return release;
  } catch (e) {
    if ((e as { code?: string }).code === 'ELOCKED') {
      throw new Error(
        `${holder}: the data dir ${dataDir} is in use by another Frostbyte process (the server or the CLI). ` +
          'Stop it first, or use the admin API of the running server.',
      );
    }
    throw e;
  }
}
