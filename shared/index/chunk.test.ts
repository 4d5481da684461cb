import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Sha256Factory } from '../hash';
import { nodeSha256 } from '../node/sha256';
import type { ElementType, ParsedDocument, ParsedElement } from '../parse/types';
import { chunkDocument, chunkIdOf } from './chunk';

/** Builds a canonical document the way a parser does: elements appended to full_text with real offsets. */
class DocBuilder {
  private text = '';
  private elements: ParsedElement[] = [];
  private pages: { page: number; start_char: number; end_char: number }[] = [];
  private page = 1;
  private pageStart = 0;
  private section: string | undefined;

  constructor(private readonly docId = 'doc_test') {}

  add(type: ElementType, body: string, extra: Partial<ParsedElement> = {}): this {
    if (this.text.length > 0) this.text += '\n\n';
    const start = this.text.length;
    this.text += body;
    if (type === 'heading') this.section = body;
    this.elements.push({ type, page: this.page, start_char: start, end_char: this.text.length, text: body, section_title: this.section, ...extra });
    return this;
  }

  table(rows: string[][]): this {
    if (this.text.length > 0) this.text += '\n\n';
    const start = this.text.length;
    const rowOffsets: [number, number][] = [];
    rows.forEach((cells, i) => {
      if (i > 0) this.text += '\n';
      const rowStart = this.text.length;
      this.text += cells.join('\t');
      rowOffsets.push([rowStart, this.text.length]);
    });
    this.elements.push({
      type: 'table',
      page: this.page,
      start_char: start,
      end_char: this.text.length,
      text: this.text.slice(start),
      rows,
      row_offsets: rowOffsets,
      section_title: this.section,
    });
    return this;
  }

  newPage(): this {
    this.pages.push({ page: this.page, start_char: this.pageStart, end_char: this.text.length });
    this.page += 1;
    this.text += '\f';
    this.pageStart = this.text.length;
    return this;
  }

  build(): ParsedDocument {
    const pages = [...this.pages, { page: this.page, start_char: this.pageStart, end_char: this.text.length }];
    return {
      doc_id: this.docId,
      source_sha256: 'a'.repeat(64),
      mime_type: 'application/pdf',
      parser: 'test',
      parser_version: '1',
      full_text: this.text,
      pages,
      elements: this.elements,
      warnings: [],
      metadata: {},
    };
  }
}

const sentence = (i: number) => `Clause ${i} obliges the supplier to deliver item ${i} within ${i + 3} days of the order.`;
const paragraph = (from: number, count: number) => Array.from({ length: count }, (_, k) => sentence(from + k)).join(' ');

function expectSlices(doc: ParsedDocument, chunks: Awaited<ReturnType<typeof chunkDocument>>) {
  for (const c of chunks) expect(doc.full_text.slice(c.start_char, c.end_char)).toBe(c.text);
  for (let i = 1; i < chunks.length; i++) expect(chunks[i].start_char).toBeGreaterThanOrEqual(chunks[i - 1].end_char);
}

describe('chunkDocument', () => {
  it('merges small consecutive elements into chunks whose text is exactly the full_text slice', async () => {
    const b = new DocBuilder().add('heading', 'Master Services Agreement', { level: 1 });
    for (let i = 0; i < 30; i++) b.add(i % 3 === 0 ? 'list_item' : 'paragraph', sentence(i));
    const doc = b.build();
    const chunks = await chunkDocument(doc);

    expectSlices(doc, chunks);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.length).toBeLessThan(10);
    for (const c of chunks) expect(c.text.length).toBeLessThanOrEqual(1500);
    // Every chunk but the last reached the target before closing.
    for (const c of chunks.slice(0, -1)) expect(c.text.length).toBeGreaterThanOrEqual(800 - 100);
    expect(chunks[0].element_types).toEqual(['heading', 'list_item', 'paragraph']);
    expect(chunks[0].section_title).toBe('Master Services Agreement');
    // All elements are covered: the first chunk starts at the first element, the last ends at the last.
    expect(chunks[0].start_char).toBe(0);
    expect(chunks.at(-1)?.end_char).toBe(doc.full_text.length);
  });

  it('starts a new chunk at each heading and carries the section title', async () => {
    const doc = new DocBuilder()
      .add('heading', 'Payment', { level: 1 })
      .add('paragraph', 'Invoices are payable within 30 days.')
      .add('heading', 'Termination', { level: 1 })
      .add('heading', 'Termination for convenience', { level: 2 })
      .add('paragraph', 'Either party may terminate on 90 days notice.')
      .build();
    const chunks = await chunkDocument(doc);
    expectSlices(doc, chunks);
    expect(chunks.map((c) => c.text)).toEqual([
      'Payment\n\nInvoices are payable within 30 days.',
      'Termination\n\nTermination for convenience\n\nEither party may terminate on 90 days notice.',
    ]);
    expect(chunks.map((c) => c.section_title)).toEqual(['Payment', 'Termination for convenience']);
  });

  it('splits a long paragraph at sentence boundaries into pieces near the target size', async () => {
    const long = paragraph(0, 60); // about 5,000 chars
    const doc = new DocBuilder().add('paragraph', long).build();
    const chunks = await chunkDocument(doc);
    expectSlices(doc, chunks);
    expect(chunks.length).toBeGreaterThanOrEqual(6);
    for (const c of chunks) {
      expect(c.text.length).toBeLessThanOrEqual(800);
      expect(c.text).toMatch(/^Clause \d+ .*days of the order\.$/s);
    }
    expect(chunks.map((c) => c.text).join(' ')).toBe(long);
  });

  it('cuts text without sentence breaks at whitespace, and text without whitespace without breaking surrogate pairs', async () => {
    const words = Array.from({ length: 600 }, (_, i) => `word${i}`).join(' ');
    const emoji = '😀'.repeat(1200); // 2,400 UTF-16 code units, no whitespace
    const doc = new DocBuilder().add('paragraph', words).add('paragraph', emoji).build();
    const chunks = await chunkDocument(doc);
    expectSlices(doc, chunks);
    for (const c of chunks) {
      expect(c.text.length).toBeLessThanOrEqual(1500);
      expect(c.text).not.toMatch(/^\s|\s$/);
      // No lone surrogate at either end.
      expect(c.text).not.toMatch(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/);
    }
    const wordChunks = chunks.filter((c) => c.text.startsWith('word'));
    for (const c of wordChunks) expect(c.text).toMatch(/^word\d+( word\d+)*$/);
  });

  it('splits a large table only between rows', async () => {
    const rows = Array.from({ length: 80 }, (_, i) => [`SKU-${1000 + i}`, `Widget model ${i}`, `${(i * 3.5).toFixed(2)} EUR`, `delivered in week ${i % 52}`]);
    const b = new DocBuilder().add('heading', 'Price list').table(rows);
    const doc = b.build();
    const table = doc.elements[1];
    const chunks = await chunkDocument(doc);
    expectSlices(doc, chunks);
    expect(chunks.length).toBeGreaterThan(2);
    const rowStarts = new Set(table.row_offsets?.map(([s]) => s));
    const rowEnds = new Set(table.row_offsets?.map(([, e]) => e));
    for (const c of chunks) {
      expect(c.element_types).toContain('table');
      if (c.start_char >= table.start_char) expect(rowStarts.has(c.start_char)).toBe(true);
      expect(rowEnds.has(c.end_char)).toBe(true);
      expect(c.text.length).toBeLessThanOrEqual(1500);
    }
  });

  it('keeps a single table row longer than the maximum whole', async () => {
    const doc = new DocBuilder().table([['short', 'row'], ['x'.repeat(2000), 'y'], ['last', 'row']]).build();
    const chunks = await chunkDocument(doc);
    expectSlices(doc, chunks);
    expect(chunks.some((c) => c.text.includes('x'.repeat(2000)))).toBe(true);
    expect(chunks.map((c) => c.text.split('\n').length).reduce((a, b) => a + b)).toBe(3);
  });

  it('carries the first page of the chunk', async () => {
    const doc = new DocBuilder()
      .add('paragraph', paragraph(0, 3))
      .newPage()
      .add('paragraph', paragraph(3, 3))
      .newPage()
      .add('heading', 'Schedule')
      .add('paragraph', paragraph(6, 3))
      .build();
    const chunks = await chunkDocument(doc);
    expectSlices(doc, chunks);
    expect(chunks.map((c) => c.page)).toEqual([1, 3]);
  });

  it('starts a new chunk when the section changes (sheets, slides) even without a heading', async () => {
    const doc = new DocBuilder()
      .add('paragraph', 'Sheet one total 100', { section_title: 'Q1' })
      .add('paragraph', 'Sheet two total 200', { section_title: 'Q2' })
      .build();
    const chunks = await chunkDocument(doc);
    expect(chunks.map((c) => [c.text, c.section_title])).toEqual([
      ['Sheet one total 100', 'Q1'],
      ['Sheet two total 200', 'Q2'],
    ]);
  });

  it('gives deterministic ids: chk_ + sha256 of (doc_id, page, start_char, end_char)', async () => {
    const build = (docId: string) => new DocBuilder(docId).add('heading', 'Scope').add('paragraph', paragraph(0, 20)).build();
    const first = await chunkDocument(build('doc_a'));
    const again = await chunkDocument(build('doc_a'));
    const other = await chunkDocument(build('doc_b'));
    expect(again.map((c) => c.chunk_id)).toEqual(first.map((c) => c.chunk_id));
    expect(new Set([...first, ...other].map((c) => c.chunk_id)).size).toBe(first.length + other.length);

    const c = first[0];
    const expected = createHash('sha256').update(JSON.stringify(['doc_a', c.page, c.start_char, c.end_char])).digest('hex').slice(0, 32);
    expect(c.chunk_id).toBe(`chk_${expected}`);
    expect(await chunkIdOf('doc_a', 2, 10, 20)).not.toBe(await chunkIdOf('doc_a', 1, 10, 20));
    expect(c.chunk_id).toMatch(/^chk_[0-9a-f]{32}$/);
  });

  it('gives the same ids with the runtime\'s native SHA-256, one-shot or streaming, as with WebCrypto', async () => {
    // A streaming-only factory is what a runtime without crypto.hash hands over.
    const streamingOnly: Sha256Factory = () => nodeSha256();
    expect(nodeSha256.textHex).toBeTypeOf('function');
    const doc = new DocBuilder('doc_zürich_😀').add('heading', 'Scope').add('paragraph', paragraph(0, 20)).add('heading', 'Fees').add('paragraph', paragraph(20, 25)).build();
    const webCrypto = (await chunkDocument(doc)).map((c) => c.chunk_id);
    expect(webCrypto.length).toBeGreaterThan(1);
    expect((await chunkDocument(doc, {}, nodeSha256)).map((c) => c.chunk_id)).toEqual(webCrypto);
    expect((await chunkDocument(doc, {}, streamingOnly)).map((c) => c.chunk_id)).toEqual(webCrypto);
    for (const sha256 of [nodeSha256, streamingOnly]) {
      expect(await chunkIdOf('doc_\ud800', 3, 0, 9, sha256)).toBe(await chunkIdOf('doc_\ud800', 3, 0, 9));
    }
  });

  it('skips empty elements and rejects offsets outside the text', async () => {
    const doc = new DocBuilder().add('paragraph', 'Only text').build();
    doc.elements.push({ type: 'paragraph', page: 1, start_char: 3, end_char: 3, text: '' });
    expect((await chunkDocument(doc)).map((c) => c.text)).toEqual(['Only text']);

    doc.elements.push({ type: 'paragraph', page: 1, start_char: 5, end_char: 500, text: 'x' });
    await expect(chunkDocument(doc)).rejects.toThrow(/outside full_text/);
  });

  it('returns no chunks for a document without text', async () => {
    expect(await chunkDocument(new DocBuilder().build())).toEqual([]);
  });
});
