import { loadEnv } from '../../shared/config/env';
import { wireNode, type NodeRuntime, type WireOptions } from '../node/wire';

/** Opens the platform's database and storage for one CLI command, then closes them. */
export async function withRuntime<T>(holder: string, fn: (rt: NodeRuntime) => Promise<T>, opts: Partial<WireOptions> = {}): Promise<T> {
  const env = loadEnv(process.env);
  const rt = await wireNode(env, { holder, log: { log: () => {} }, ...opts });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/** Writes a line to stdout (results) — diagnostics go to stderr so output can be piped. */
export const out = (line = '') => process.stdout.write(`${line}\n`);
export const err = (line = '') => process.stderr.write(`${line}\n`);
