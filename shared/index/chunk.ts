import { type TextHasher, textHasher } from '../audit/hashing';
import type { Sha256Factory } from '../hash';
import type { ElementType, ParsedDocument, ParsedElement } from '../parse/types';

/**
 * Element-aware chunking (DESIGN §5). A chunk is always one contiguous slice of the document's
 * full text: `full_text.slice(start_char, end_char) === text` (UTF-16 code units, as in
 * shared/parse/types.ts), so a citation can be checked against the canonical JSON.
 *
 * Rules, in order:
 * - chunks follow element boundaries; small consecutive elements merge until the chunk reaches
 *   `targetChars`, never beyond `maxChars`;
 * - a heading starts a new chunk (and takes the content after it), and so does a change of
 *   section (sheet, slide);
 * - an element longer than `maxChars` is split into pieces of about `targetChars`: paragraphs at
 *   sentence boundaries (then whitespace, then a hard cut for text without any), tables only
 *   between rows (a single row longer than `maxChars` stays whole);
 * - no overlap between chunks: every character belongs to at most one chunk.
 */

export interface Chunk {
  /** `chk_` + 32 hex of sha256 over (doc_id, page, start_char, end_char). */
  chunk_id: string;
  doc_id: string;
  /** First page (1-based) the chunk touches. */
  page: number;
  start_char: number;
  end_char: number;
  text: string;
  /** Types of the elements in the chunk, in order of first appearance. */
  element_types: ElementType[];
  section_title: string | null;
}

export interface ChunkOptions {
  /** Chunks grow by whole elements until they reach this size (chars). Default 800. */
  targetChars?: number;
  /** Hard ceiling (chars) except for a single table row that is longer. Default 1500. */
  maxChars?: number;
}

export const DEFAULT_CHUNK_OPTIONS = { targetChars: 800, maxChars: 1500 } as const;

interface Piece {
  start: number;
  end: number;
  page: number;
  type: ElementType;
  sectionTitle: string | undefined;
  headingText: string | undefined;
}

interface Draft {
  start: number;
  end: number;
  page: number;
  types: ElementType[];
  /** Section of the first non-heading piece, else of the first piece. */
  sectionTitle: string | undefined;
  /** Text of the last heading in the chunk (the most specific one). */
  headingText: string | undefined;
  hasBody: boolean;
}

/**
 * `sha256` is the runtime's native SHA-256 (services.sha256): chunk ids are then hashed
 * synchronously on this thread instead of one WebCrypto round trip per chunk. Same ids either way.
 */
export async function chunkDocument(doc: ParsedDocument, opts: ChunkOptions = {}, sha256?: Sha256Factory): Promise<Chunk[]> {
  const target = opts.targetChars ?? DEFAULT_CHUNK_OPTIONS.targetChars;
  const max = opts.maxChars ?? DEFAULT_CHUNK_OPTIONS.maxChars;
  if (!(target > 0 && max >= target)) throw new RangeError(`chunk sizes must satisfy 0 < targetChars <= maxChars (got ${target}, ${max})`);

  const text = doc.full_text;
  const elements = doc.elements
    .map((element, order) => ({ element, order }))
    .sort((a, b) => a.element.start_char - b.element.start_char || a.order - b.order)
    .map((e) => e.element);

  const pieces: Piece[] = [];
  for (const element of elements) {
    const { start_char: start, end_char: end } = element;
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= text.length)) {
      throw new RangeError(`element offsets [${start}, ${end}) lie outside full_text (length ${text.length}) in ${doc.doc_id}`);
    }
    const [s, e] = trimRange(text, start, end);
    if (s >= e) continue;
    const ranges = e - s <= max ? [[s, e] as Range] : splitElement(text, element, s, e, target, max);
    for (const [rs, re] of ranges) {
      pieces.push({
        start: rs,
        end: re,
        page: rs === s ? element.page : Math.max(element.page, pageAt(doc, rs) ?? element.page),
        type: element.type,
        sectionTitle: element.section_title,
        headingText: element.type === 'heading' ? text.slice(rs, re) : undefined,
      });
    }
  }

  const drafts: Draft[] = [];
  let current: Draft | undefined;
  for (const piece of pieces) {
    if (current && canMerge(current, piece, target, max)) {
      current.end = Math.max(current.end, piece.end);
      if (!current.types.includes(piece.type)) current.types.push(piece.type);
      if (piece.type === 'heading') current.headingText = piece.headingText;
      else if (!current.hasBody) {
        current.hasBody = true;
        current.sectionTitle = piece.sectionTitle ?? current.sectionTitle;
      }
      continue;
    }
    current = {
      start: piece.start,
      end: piece.end,
      page: piece.page,
      types: [piece.type],
      sectionTitle: piece.sectionTitle,
      headingText: piece.headingText,
      hasBody: piece.type !== 'heading',
    };
    drafts.push(current);
  }

  const hash = textHasher(sha256);
  const ids = await Promise.all(drafts.map((d) => chunkId(hash, doc.doc_id, d.page, d.start, d.end)));
  return drafts.map((d, i) => ({
    chunk_id: ids[i],
    doc_id: doc.doc_id,
    page: d.page,
    start_char: d.start,
    end_char: d.end,
    text: text.slice(d.start, d.end),
    element_types: d.types,
    section_title: d.sectionTitle ?? d.headingText ?? null,
  }));
}

/** Deterministic chunk id (DESIGN §5): the same document, page and offsets always give the same id. */
export async function chunkIdOf(docId: string, page: number, startChar: number, endChar: number, sha256?: Sha256Factory): Promise<string> {
  return chunkId(textHasher(sha256), docId, page, startChar, endChar);
}

function chunkId(hash: TextHasher, docId: string, page: number, startChar: number, endChar: number): string | Promise<string> {
  const digest = hash(JSON.stringify([docId, page, startChar, endChar]));
  return typeof digest === 'string' ? `chk_${digest.slice(0, 32)}` : digest.then((d) => `chk_${d.slice(0, 32)}`);
}

function canMerge(current: Draft, piece: Piece, target: number, max: number): boolean {
  if (current.end - current.start >= target) return false;
  if (piece.end - current.start > max) return false;
  // Headings gather what follows them (an H1 directly followed by an H2 stays together).
  if (!current.hasBody) return true;
  if (piece.type === 'heading') return false;
  // A new sheet or slide starts a new chunk even without a heading element.
  if (piece.sectionTitle !== undefined && current.sectionTitle !== undefined && piece.sectionTitle !== current.sectionTitle) return false;
  return true;
}

type Range = [number, number];

function splitElement(text: string, element: ParsedElement, start: number, end: number, target: number, max: number): Range[] {
  if (element.type === 'table') return packRanges(tableRows(text, element, start, end), target);
  const units: Range[] = [];
  for (const sentence of sentenceRanges(text, start, end)) {
    if (sentence[1] - sentence[0] <= max) units.push(sentence);
    else units.push(...splitAtWhitespace(text, sentence[0], sentence[1], target, max));
  }
  return packRanges(units, target);
}

/** Rows of a table from `row_offsets` (or its lines when the parser gave none); never split inside. */
function tableRows(text: string, element: ParsedElement, start: number, end: number): Range[] {
  const fromOffsets = (element.row_offsets ?? [])
    .map(([s, e]) => trimRange(text, Math.max(s, start), Math.min(e, end)))
    .filter(([s, e]) => s < e)
    .sort((a, b) => a[0] - b[0]);
  if (fromOffsets.length > 0) return fromOffsets;
  const rows: Range[] = [];
  let lineStart = start;
  for (let i = start; i <= end; i++) {
    if (i === end || text[i] === '\n') {
      const [s, e] = trimRange(text, lineStart, i);
      if (s < e) rows.push([s, e]);
      lineStart = i + 1;
    }
  }
  return rows;
}

const sentenceSegmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

function sentenceRanges(text: string, start: number, end: number): Range[] {
  const out: Range[] = [];
  for (const { segment, index } of sentenceSegmenter.segment(text.slice(start, end))) {
    const [s, e] = trimRange(text, start + index, start + index + segment.length);
    if (s < e) out.push([s, e]);
  }
  return out;
}

/** For a run of text longer than `max` with no sentence break: cut at whitespace near `target`. */
function splitAtWhitespace(text: string, start: number, end: number, target: number, max: number): Range[] {
  const out: Range[] = [];
  let pos = start;
  while (end - pos > max) {
    let cut = lastWhitespace(text, pos + Math.floor(target / 2), pos + target);
    if (cut < 0) cut = lastWhitespace(text, pos + target, pos + max);
    if (cut < 0) {
      cut = pos + max;
      // Never cut between the halves of a surrogate pair.
      if (isHighSurrogate(text.charCodeAt(cut - 1))) cut -= 1;
    }
    const [s, e] = trimRange(text, pos, cut);
    if (s < e) out.push([s, e]);
    pos = cut;
    while (pos < end && isWhitespace(text.charCodeAt(pos))) pos++;
  }
  const [s, e] = trimRange(text, pos, end);
  if (s < e) out.push([s, e]);
  return out;
}

function lastWhitespace(text: string, from: number, to: number): number {
  for (let i = to; i > from; i--) if (isWhitespace(text.charCodeAt(i))) return i;
  return -1;
}

/** Greedy packing of consecutive units into ranges of at most `target` (a longer unit stays alone). */
function packRanges(units: Range[], target: number): Range[] {
  const out: Range[] = [];
  for (const unit of units) {
    const last = out[out.length - 1];
    if (last && unit[1] - last[0] <= target) last[1] = unit[1];
    else out.push([unit[0], unit[1]]);
  }
  return out;
}

function pageAt(doc: ParsedDocument, offset: number): number | undefined {
  for (const p of doc.pages) if (offset >= p.start_char && offset < p.end_char) return p.page;
  return undefined;
}

function trimRange(text: string, start: number, end: number): Range {
  let s = start;
  let e = end;
  while (s < e && isWhitespace(text.charCodeAt(s))) s++;
  while (e > s && isWhitespace(text.charCodeAt(e - 1))) e--;
  return [s, e];
}

function isWhitespace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || code === 0xa0 || code === 0x2028 || code === 0x2029 || code === 0x3000 || (code >= 0x2000 && code <= 0x200a);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
