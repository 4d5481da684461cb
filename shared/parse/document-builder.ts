import type { ElementType, ParsedElement, ParsedPage } from './types';
import { ParseError } from './types';

/** Between two elements in full_text; a blank line keeps plain-text readers and FTS happy. */
const ELEMENT_SEPARATOR = '\n\n';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// C0/C1 controls except tab and line breaks; NUL cannot be stored in PostgreSQL text.
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFEFF\u200B]/g;

/**
 * Makes a string safe to store and index: no lone surrogates (they would turn into U+FFFD on the
 * way to PostgreSQL and shift offsets), no control characters, line breaks as `\n`.
 */
export function sanitizeText(text: string): string {
  return text
    .replace(LONE_SURROGATE, '\uFFFD')
    .replace(/\r\n?|[\u000B\u000C\u2028\u2029\u0085]/g, '\n')
    .replace(CONTROL_CHARS, '');
}

/** Sanitizes and folds every whitespace run (line breaks included) into one space. */
export function normalizeInline(text: string): string {
  return sanitizeText(text).replace(/[\s\u00A0]+/g, ' ').trim();
}

export interface ElementOptions {
  level?: number;
  source?: 'text' | 'ocr';
  /** Overrides the running section title for this element. */
  sectionTitle?: string;
}

/**
 * Builds full_text, elements and pages together so that every offset is the real position of
 * the element's text: `full_text.slice(start_char, end_char) === text` by construction.
 */
export class DocumentBuilder {
  private readonly parts: string[] = [];
  private length = 0;
  private readonly elementList: ParsedElement[] = [];
  private readonly pageList: ParsedPage[] = [];
  private openPage: ParsedPage | null = null;
  private section: string | undefined;
  private cells = 0;

  constructor(private readonly maxChars: number, private readonly maxCells: number) {}

  get elementCount(): number {
    return this.elementList.length;
  }

  get charCount(): number {
    return this.length;
  }

  beginPage(page: number, extra: { ocr_confidence?: number } = {}): void {
    this.endPage();
    this.openPage = { page, start_char: -1, end_char: -1, ...extra };
  }

  setPageConfidence(confidence: number): void {
    if (this.openPage) this.openPage.ocr_confidence = Math.round(confidence * 10) / 10;
  }

  endPage(): void {
    const page = this.openPage;
    if (!page) return;
    if (page.start_char < 0) {
      page.start_char = this.length;
      page.end_char = this.length;
    }
    this.pageList.push(page);
    this.openPage = null;
  }

  /** The section title given to following elements (a heading sets it too). */
  setSection(title: string | undefined): void {
    this.section = title === undefined ? undefined : normalizeInline(title) || undefined;
  }

  /** Adds a text element; whitespace is folded to single spaces. Empty text adds nothing. */
  add(type: Exclude<ElementType, 'table'>, rawText: string, options: ElementOptions = {}): ParsedElement | null {
    const text = normalizeInline(rawText);
    if (!text) return null;
    if (type === 'heading') this.section = text;
    const start = this.append(text);
    const element: ParsedElement = { type, page: this.currentPage(), start_char: start, end_char: start + text.length, text };
    if (type === 'heading') element.level = Math.min(Math.max(options.level ?? 1, 1), 6);
    const section = options.sectionTitle !== undefined ? normalizeInline(options.sectionTitle) : this.section;
    if (section) element.section_title = section;
    if (options.source) element.source = options.source;
    this.elementList.push(element);
    return element;
  }

  /**
   * Adds a table. Cells are folded to one line (tabs and newlines inside a cell would make the
   * row text ambiguous); trailing empty cells and empty rows are dropped.
   */
  addTable(rawRows: readonly (readonly string[])[], options: ElementOptions = {}): ParsedElement | null {
    const rows: string[][] = [];
    for (const raw of rawRows) {
      const row = raw.map((cell) => normalizeInline(cell));
      while (row.length > 0 && row[row.length - 1] === '') row.pop();
      if (row.length > 0) rows.push(row);
    }
    if (rows.length === 0) return null;
    for (const row of rows) this.cells += row.length;
    if (this.cells > this.maxCells) {
      throw new ParseError('RESOURCE_LIMIT', `The file has more than ${this.maxCells} table cells.`);
    }
    const lines = rows.map((row) => row.join('\t'));
    const text = lines.join('\n');
    const start = this.append(text);
    const rowOffsets: [number, number][] = [];
    let cursor = start;
    for (const line of lines) {
      rowOffsets.push([cursor, cursor + line.length]);
      cursor += line.length + 1;
    }
    const element: ParsedElement = {
      type: 'table',
      page: this.currentPage(),
      start_char: start,
      end_char: start + text.length,
      text,
      rows,
      row_offsets: rowOffsets,
    };
    const section = options.sectionTitle !== undefined ? normalizeInline(options.sectionTitle) : this.section;
    if (section) element.section_title = section;
    if (options.source) element.source = options.source;
    this.elementList.push(element);
    return element;
  }

  build(): { full_text: string; elements: ParsedElement[]; pages: ParsedPage[] } {
    this.endPage();
    return { full_text: this.parts.join(''), elements: this.elementList, pages: this.pageList };
  }

  private currentPage(): number {
    return this.openPage?.page ?? 1;
  }

  private append(text: string): number {
    if (this.length > 0) {
      this.parts.push(ELEMENT_SEPARATOR);
      this.length += ELEMENT_SEPARATOR.length;
    }
    const start = this.length;
    this.parts.push(text);
    this.length += text.length;
    if (this.length > this.maxChars) {
      throw new ParseError('RESOURCE_LIMIT', `The file holds more than ${this.maxChars} characters of text.`);
    }
    if (!this.openPage) this.beginPage(1);
    const page = this.openPage as ParsedPage; // set by beginPage just above when it was null
    if (page.start_char < 0) page.start_char = start;
    page.end_char = this.length;
    return start;
  }
}
