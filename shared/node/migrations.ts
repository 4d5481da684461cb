import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Migration } from '../db/types';

const root = fileURLToPath(new URL('../../drizzle/', import.meta.url));

/** Reads drizzle-kit's output for one plane, in journal order. */
export function loadMigrations(plane: 'control' | 'tenant'): Migration[] {
  const dir = join(root, plane);
  const journal = JSON.parse(readFileSync(join(dir, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] };
  return journal.entries.map((e) => ({ tag: e.tag, sql: readFileSync(join(dir, `${e.tag}.sql`), 'utf8') }));
}
