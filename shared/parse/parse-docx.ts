import mammoth from 'mammoth';
import { DocumentBuilder } from './document-builder';
import type { ParseLimits } from './limits';
import { ParseError } from './types';
import { paragraphType } from './text-blocks';
import { walkXml } from './xml-events';
import { inspectZip } from './zip-guard';

type BlockKind = 'heading' | 'paragraph' | 'list_item' | 'figure_caption';
interface OpenBlock {
  kind: BlockKind;
  level: number;
  text: string;
}

const BLOCK_TAGS: Readonly<Record<string, BlockKind>> = {
  h1: 'heading', h2: 'heading', h3: 'heading', h4: 'heading', h5: 'heading', h6: 'heading',
  p: 'paragraph',
  li: 'list_item',
};

/**
 * DOCX via mammoth's HTML (headings from Word's heading styles, lists from numbering, tables
 * with rows). mammoth writes well-formed HTML, so it is walked as XML.
 */
export async function parseDocx(bytes: Uint8Array, builder: DocumentBuilder, limits: ParseLimits): Promise<Record<string, number>> {
  inspectZip(bytes, limits);
  let html: string;
  let messages: number;
  try {
    // mammoth's Node entry reads `buffer` through JSZip, which takes any Uint8Array.
    const input = { buffer: bytes } as unknown as Parameters<typeof mammoth.convertToHtml>[0];
    const result = await mammoth.convertToHtml(input, {
      // Images are not text; skip the base64 data URIs mammoth would otherwise inline.
      convertImage: mammoth.images.imgElement(async () => ({ src: '' })),
      externalFileAccess: false,
      // Word's built-in caption style ("Figure 1: …" under a picture or table).
      styleMap: ["p[style-name='Caption'] => p.caption:fresh"],
    });
    html = result.value;
    messages = result.messages.length;
  } catch {
    throw new ParseError('FILE_CORRUPTED', 'The Word document could not be read.');
  }
  builder.beginPage(1);
  const stack: OpenBlock[] = [];
  let tableDepth = 0;
  let rows: string[][] = [];
  let row: string[] | null = null;
  let cell: string | null = null;
  let tables = 0;

  const flush = (block: OpenBlock): void => {
    if (!block.text.trim()) return;
    const kind = block.kind === 'paragraph' ? paragraphType(block.text) : block.kind;
    builder.add(kind, block.text, kind === 'heading' ? { level: block.level } : {});
    block.text = '';
  };

  try {
    walkXml(`<root>${html}</root>`, {
      open(name, attributes) {
        if (name === 'table') {
          tableDepth++;
          if (tableDepth === 1) {
            const top = stack[stack.length - 1];
            if (top) flush(top);
            rows = [];
          }
          return;
        }
        if (tableDepth > 0) {
          if (tableDepth === 1 && name === 'tr') row = [];
          else if (tableDepth === 1 && (name === 'td' || name === 'th')) cell = '';
          else if (name === 'p' || name === 'br' || name === 'li') cell = cell === null ? cell : cell + ' ';
          return;
        }
        if (name === 'br') {
          const top = stack[stack.length - 1];
          if (top) top.text += ' ';
          return;
        }
        const kind = BLOCK_TAGS[name];
        if (kind) {
          // A block inside another (a nested list in an item): emit the outer text first.
          const top = stack[stack.length - 1];
          if (top) flush(top);
          const caption = name === 'p' && attributes.class === 'caption';
          stack.push({ kind: caption ? 'figure_caption' : kind, level: kind === 'heading' ? Number(name.slice(1)) : 0, text: '' });
        } else if (name === 'ul' || name === 'ol') {
          const top = stack[stack.length - 1];
          if (top) flush(top);
        }
      },
      close(name) {
        if (name === 'table') {
          tableDepth--;
          if (tableDepth === 0) {
            if (builder.addTable(rows)) tables++;
            rows = [];
          }
          return;
        }
        if (tableDepth > 0) {
          if (tableDepth === 1 && (name === 'td' || name === 'th') && row && cell !== null) {
            row.push(cell);
            cell = null;
          } else if (tableDepth === 1 && name === 'tr' && row) {
            rows.push(row);
            row = null;
          }
          return;
        }
        if (BLOCK_TAGS[name]) {
          const block = stack.pop();
          if (block) flush(block);
        }
      },
      text(text) {
        if (tableDepth > 0) {
          if (cell !== null) cell += text;
          return;
        }
        const top = stack[stack.length - 1];
        if (top) top.text += text;
        else if (text.trim()) builder.add('paragraph', text);
      },
    });
  } catch (error) {
    if (error instanceof ParseError) throw error;
    throw new ParseError('FILE_CORRUPTED', 'The Word document could not be read.');
  }
  builder.endPage();
  return { table_count: tables, conversion_messages: messages };
}
