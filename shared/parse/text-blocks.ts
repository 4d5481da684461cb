import type { DocumentBuilder } from './document-builder';

/**
 * Layout heuristics shared by plain text, OCR output and PDF lines: what looks like a list
 * marker or a heading when all we have is a line of text.
 */

/** Bullets and enumerators that start a list item: "•", "-", "*", "(a)", "a)", "iv.", "1)", "2." followed by text. */
const LIST_MARKER = /^(?:[•◦▪▫●○■□►▸‣⁃∙·*–—-]\s+|\(?(?:[a-z]|[ivx]{1,5}|\d{1,3})\)\s+|(?:[a-z]|[ivx]{1,5})\.\s+)/i;

/** Numbered clause or section headings: "1.", "2.3", "ARTICLE IV", "Section 5", "Schedule 2", "Annex A". */
const NUMBERED_HEADING = /^(?:(\d{1,3}(?:\.\d{1,3}){0,4})\.?|(?:article|section|schedule|annex|appendix|exhibit|part|chapter)\s+[\dIVXLC]+[.:]?|[IVX]{1,5}\.)\s+\S/i;

const MARKDOWN_HEADING = /^(#{1,6})\s+(\S.*)$/;

/** "Figure 3: …", "Table 2. …", "Fig. 4 – …": a caption under or over a figure or table. */
const CAPTION = /^(?:figure|fig\.|table|chart|diagram|illustration|image|photo|plate)\s+[\dA-Z]{1,4}(?:\.\d{1,3})?\s*[.:\-–—)]\s*\S/i;

export function isCaption(text: string): boolean {
  const trimmed = text.trim();
  return trimmed.length <= 300 && CAPTION.test(trimmed);
}

/** Paragraph or figure caption, by the text's shape. */
export function paragraphType(text: string): 'paragraph' | 'figure_caption' {
  return isCaption(text) ? 'figure_caption' : 'paragraph';
}

export function isListMarkerLine(line: string): boolean {
  return LIST_MARKER.test(line.trim());
}

/** 1 for "1.", 2 for "1.2", …; 0 when the line is not numbered that way. */
export function numberingDepth(line: string): number {
  const match = NUMBERED_HEADING.exec(line.trim());
  if (!match) return 0;
  return match[1] ? match[1].split('.').length : 1;
}

/**
 * A line that reads like a heading on its own: short, no sentence punctuation at the end, and
 * either ALL CAPS or numbered like a clause heading ("4. Payment Terms").
 */
export function looksLikeHeading(line: string): boolean {
  const text = line.trim();
  if (text.length < 2 || text.length > 100) return false;
  if (/[.;,:!?]$/.test(text) && !/^[IVX]{1,5}\.$/.test(text)) return false;
  const words = text.split(/\s+/);
  if (words.length > 12) return false;
  const letters = text.replace(/[^\p{L}]/gu, '');
  if (letters.length < 2) return false;
  const isUpper = letters === letters.toUpperCase() && letters !== letters.toLowerCase();
  if (isUpper) return true;
  if (numberingDepth(text) > 0 && !isListMarkerLine(text)) {
    // "3. Term and Termination" yes; "3. The supplier shall deliver all goods" no (most words lowercase).
    const rest = words.slice(1).filter((w) => /\p{L}/u.test(w));
    const capitalised = rest.filter((w) => /^\p{Lu}/u.test(w) || /^(?:and|or|of|the|to|for|in|on|a|an)$/.test(w));
    return rest.length > 0 && capitalised.length === rest.length;
  }
  return false;
}

/**
 * Adds plain-text blocks (paragraphs separated by blank lines) to the builder: markdown and
 * heading-like lines become headings, marker lines list items, the rest paragraphs.
 */
export function addTextBlocks(builder: DocumentBuilder, text: string, source: 'text' | 'ocr' = 'text'): void {
  const blocks = text.split(/\n[ \t]*\n+/);
  for (const block of blocks) {
    const lines = block.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
    if (lines.length === 0) continue;
    let paragraph: string[] = [];
    let item: string[] = [];
    const flushParagraph = (): void => {
      const text = joinLines(paragraph);
      if (paragraph.length) builder.add(paragraphType(text), text, { source });
      paragraph = [];
    };
    const flushItem = (): void => {
      if (item.length) builder.add('list_item', joinLines(item), { source });
      item = [];
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const next = lines[i + 1];
      const markdown = MARKDOWN_HEADING.exec(line);
      if (markdown) {
        flushParagraph();
        flushItem();
        builder.add('heading', markdown[2], { level: markdown[1].length, source });
        continue;
      }
      // Setext headings: a line underlined with === or ---.
      if (next !== undefined && /^(={3,}|-{3,})$/.test(next) && paragraph.length === 0) {
        flushItem();
        builder.add('heading', line, { level: next.startsWith('=') ? 1 : 2, source });
        i++;
        continue;
      }
      if (isListMarkerLine(line) && !(looksLikeHeading(line) && lines.length === 1)) {
        flushParagraph();
        flushItem();
        item.push(line);
        continue;
      }
      if (item.length) {
        item.push(line);
        continue;
      }
      if (paragraph.length === 0 && looksLikeHeading(line) && (lines.length === 1 || i === 0)) {
        builder.add('heading', line, { level: headingLevelOf(line), source });
        continue;
      }
      paragraph.push(line);
    }
    flushParagraph();
    flushItem();
  }
}

function headingLevelOf(line: string): number {
  const depth = numberingDepth(line);
  return depth > 0 ? Math.min(depth + 1, 6) : 1;
}

/** Joins wrapped lines, undoing end-of-line hyphenation ("agree-" + "ment" → "agreement"). */
export function joinLines(lines: readonly string[]): string {
  let out = '';
  for (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    if (!out) {
      out = line;
    } else if (/\p{Ll}-$/u.test(out) && /^\p{Ll}/u.test(line)) {
      out = out.slice(0, -1) + line;
    } else {
      out += ' ' + line;
    }
  }
  return out;
}
