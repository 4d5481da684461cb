import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** Files the CLI itself writes next to a batch; never part of one. */
const CLI_OUTPUTS = /^(?:manifest|receipt(?:-[\w.:-]+?)?(?:\.manifest)?)\.json$/;

export interface InputFiles {
  /** Regular files to send, in the order they go into the manifest. */
  files: string[];
  /** What a directory held that is not sent, and why (shown on stderr). */
  skipped: { path: string; why: string }[];
}

/**
 * The files a `manifest`/`submit` argument list names: files as given, and for a directory its
 * regular files (not sub-directories: multipart carries bare filenames, so two folders could not
 * both hold a `scan.pdf`), sorted by name so the manifest — and its file ids — come out the same
 * on every run. Hidden files and the CLI's own manifest/receipt JSON are left out.
 */
export async function collectInputFiles(paths: readonly string[]): Promise<InputFiles> {
  const files: string[] = [];
  const skipped: InputFiles['skipped'] = [];
  for (const p of paths) {
    const s = await stat(p).catch(() => null);
    if (!s) throw new Error(`${p}: no such file or directory`);
    if (s.isFile()) {
      files.push(p);
      continue;
    }
    if (!s.isDirectory()) throw new Error(`${p}: not a regular file or directory`);
    const entries = (await readdir(p, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = join(p, e.name);
      if (e.name.startsWith('.')) skipped.push({ path: full, why: 'hidden file' });
      else if (e.isDirectory()) skipped.push({ path: full, why: 'sub-directory (submit it as its own batch)' });
      else if (!e.isFile()) skipped.push({ path: full, why: 'not a regular file' });
      else if (CLI_OUTPUTS.test(e.name)) skipped.push({ path: full, why: 'a manifest or receipt, not a document' });
      else files.push(full);
    }
  }
  return { files, skipped };
}

export const filenameOf = (path: string) => basename(path);
