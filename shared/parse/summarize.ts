import type { ElementType, ParsedDocument } from './types';

const ELEMENT_ORDER: readonly ElementType[] = ['heading', 'paragraph', 'list_item', 'table', 'figure_caption'];

/**
 * A few lines for operators (`frostbyte parse`, logs): format, parser, pages, elements by type,
 * characters and warnings. Counts only, never document text.
 */
export function summarizeParse(doc: ParsedDocument): string {
  const counts = new Map<ElementType, number>();
  for (const element of doc.elements) counts.set(element.type, (counts.get(element.type) ?? 0) + 1);
  const byType = ELEMENT_ORDER.filter((type) => counts.has(type)).map((type) => `${type} ${counts.get(type)}`).join(', ');
  const ocrPages = doc.pages.filter((page) => page.ocr_confidence !== undefined);
  const ocr = ocrPages.length
    ? ` (OCR on ${ocrPages.length}, mean confidence ${Math.round(ocrPages.reduce((sum, page) => sum + (page.ocr_confidence ?? 0), 0) / ocrPages.length)})`
    : '';
  const tableRows = doc.elements.reduce((sum, element) => sum + (element.rows?.length ?? 0), 0);
  const lines = [
    `format:     ${String(doc.metadata.format ?? '?')} (${doc.mime_type})`,
    `parser:     ${doc.parser}, parser_version ${doc.parser_version}`,
    `pages:      ${doc.pages.length}${ocr}`,
    `elements:   ${doc.elements.length}${byType ? ` (${byType})` : ''}`,
    ...(tableRows ? [`table rows: ${tableRows}`] : []),
    `characters: ${doc.full_text.length}`,
    `warnings:   ${doc.warnings.length === 0 ? 'none' : doc.warnings.length}`,
    ...doc.warnings.map((warning) => `  - ${warning}`),
  ];
  return lines.join('\n');
}
