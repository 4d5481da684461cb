import type { DocumentBuilder } from './document-builder';
import type { ParseLimits } from './limits';
import { ParseError } from './types';
import { walkXml } from './xml-events';
import type { ZipEntry } from './zip-guard';
import { inspectZip, readZipEntry } from './zip-guard';

type SlideBlock = { kind: 'paragraph' | 'list_item'; text: string } | { kind: 'table'; rows: string[][] };

/**
 * PPTX straight from the OOXML parts: slides in presentation order, one page and section per
 * slide; the title placeholder becomes the heading, body placeholders' paragraphs list items
 * (unless bullets are switched off), other text boxes paragraphs, tables rows. Text is the
 * `a:t` runs; speaker notes are not read.
 */
export async function parsePptx(bytes: Uint8Array, builder: DocumentBuilder, limits: ParseLimits): Promise<Record<string, number>> {
  const entries = inspectZip(bytes, limits);
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  const decoder = new TextDecoder();
  const read = (name: string): string | null => {
    const entry = byName.get(name);
    return entry ? decoder.decode(readZipEntry(bytes, entry)) : null;
  };
  const slideNames = slideOrder(read, entries);
  if (slideNames.length === 0) throw new ParseError('UNSUPPORTED_CONTENT', 'The presentation has no slides.');
  if (slideNames.length > limits.maxPages) {
    throw new ParseError('RESOURCE_LIMIT', `The presentation has more than ${limits.maxPages} slides.`);
  }
  let tables = 0;
  slideNames.forEach((name, index) => {
    const xml = read(name);
    builder.beginPage(index + 1);
    if (xml === null) {
      builder.endPage();
      return;
    }
    let slide: { title: string; blocks: SlideBlock[] };
    try {
      slide = readSlide(xml);
    } catch {
      throw new ParseError('FILE_CORRUPTED', `Slide ${index + 1} could not be read.`);
    }
    builder.setSection(slide.title.trim() ? slide.title : `Slide ${index + 1}`);
    if (slide.title.trim()) builder.add('heading', slide.title, { level: 1 });
    for (const block of slide.blocks) {
      if (block.kind === 'table') {
        if (builder.addTable(block.rows)) tables++;
      } else {
        builder.add(block.kind, block.text);
      }
    }
    builder.endPage();
  });
  return { slide_count: slideNames.length, table_count: tables };
}

/** Slide part names in the order of `p:sldIdLst`; numeric file order when that is missing. */
function slideOrder(read: (name: string) => string | null, entries: readonly ZipEntry[]): string[] {
  const presentation = read('ppt/presentation.xml');
  const rels = read('ppt/_rels/presentation.xml.rels');
  const ordered: string[] = [];
  if (presentation && rels) {
    const targets = new Map<string, string>();
    const ids: string[] = [];
    try {
      walkXml(rels, {
        open(name, attributes) {
          if (name === 'Relationship' && attributes.Id && attributes.Target && (attributes.Type ?? '').endsWith('/slide')) {
            targets.set(attributes.Id, attributes.Target);
          }
        },
      });
      walkXml(presentation, {
        open(name, attributes) {
          if (name === 'p:sldId' && attributes['r:id']) ids.push(attributes['r:id']);
        },
      });
    } catch {
      throw new ParseError('FILE_CORRUPTED', 'The presentation could not be read.');
    }
    for (const id of ids) {
      const target = targets.get(id);
      if (target) ordered.push(resolvePartName('ppt/', target));
    }
  }
  if (ordered.length > 0) return ordered;
  return entries
    .map((entry) => entry.name)
    .filter((name) => /^ppt\/slides\/slide\d+\.xml$/.test(name))
    .sort((a, b) => slideNumber(a) - slideNumber(b));
}

function slideNumber(name: string): number {
  return Number(/(\d+)\.xml$/.exec(name)?.[1] ?? 0);
}

function resolvePartName(base: string, target: string): string {
  if (target.startsWith('/')) return target.slice(1);
  const parts = (base + target).split('/');
  const out: string[] = [];
  for (const part of parts) {
    if (part === '..') out.pop();
    else if (part !== '.' && part !== '') out.push(part);
  }
  return out.join('/');
}

function readSlide(xml: string): { title: string; blocks: SlideBlock[] } {
  const titleParts: string[] = [];
  const blocks: SlideBlock[] = [];
  // Shape state: placeholder type ('' = none; 'body' for content placeholders without a type).
  let placeholder: string | null = null;
  let shapeDepth = 0;
  let tableDepth = 0;
  let rows: string[][] = [];
  let row: string[] | null = null;
  let cell: string[] | null = null;
  let paragraph: string | null = null;
  let bulletsOff = false;
  let explicitBullet = false;
  let inRunText = false;

  walkXml(xml, {
    open(name, attributes) {
      switch (name) {
        case 'p:sp':
          shapeDepth++;
          placeholder = '';
          break;
        case 'p:ph':
          if (shapeDepth > 0) placeholder = attributes.type ?? 'body';
          break;
        case 'a:tbl':
          tableDepth++;
          if (tableDepth === 1) rows = [];
          break;
        case 'a:tr':
          if (tableDepth === 1) row = [];
          break;
        case 'a:tc':
          if (tableDepth === 1) cell = [];
          break;
        case 'a:p':
          paragraph = '';
          bulletsOff = false;
          explicitBullet = false;
          break;
        case 'a:buNone':
          bulletsOff = true;
          break;
        case 'a:buChar':
        case 'a:buAutoNum':
        case 'a:buBlip':
          explicitBullet = true;
          break;
        case 'a:t':
          inRunText = true;
          break;
        case 'a:br':
          if (paragraph !== null) paragraph += ' ';
          break;
        default:
          break;
      }
    },
    close(name) {
      switch (name) {
        case 'a:t':
          inRunText = false;
          break;
        case 'a:p': {
          const text = paragraph ?? '';
          paragraph = null;
          if (!text.trim()) break;
          if (tableDepth > 0) {
            cell?.push(text);
          } else if (placeholder === 'title' || placeholder === 'ctrTitle') {
            titleParts.push(text);
          } else {
            const isBodyPlaceholder = placeholder === 'body' || placeholder === 'obj';
            const listed = explicitBullet || (isBodyPlaceholder && !bulletsOff);
            blocks.push({ kind: listed ? 'list_item' : 'paragraph', text });
          }
          break;
        }
        case 'a:tc':
          if (tableDepth === 1 && row && cell) row.push(cell.join(' '));
          cell = null;
          break;
        case 'a:tr':
          if (tableDepth === 1 && row) rows.push(row);
          row = null;
          break;
        case 'a:tbl':
          tableDepth--;
          if (tableDepth === 0 && rows.length) blocks.push({ kind: 'table', rows });
          break;
        case 'p:sp':
          shapeDepth--;
          placeholder = shapeDepth > 0 ? placeholder : null;
          break;
        default:
          break;
      }
    },
    text(text) {
      if (inRunText && paragraph !== null) paragraph += text;
    },
  });
  return { title: titleParts.join(' '), blocks };
}
