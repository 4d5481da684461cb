import { getDocumentProxy, getResolvedPDFJS } from 'unpdf';
import type { DocumentBuilder } from './document-builder';
import type { ParseLimits } from './limits';
import type { OcrEngine, RasterImage } from './ocr';
import { addOcrText, OcrImageError, toGreyscale } from './ocr';
import { isListMarkerLine, joinLines, looksLikeHeading, numberingDepth, paragraphType } from './text-blocks';
import { ParseError } from './types';

type PdfDocument = Awaited<ReturnType<typeof getDocumentProxy>>;
type PdfPage = Awaited<ReturnType<PdfDocument['getPage']>>;

/** One visual line of a page, top to bottom. */
interface PdfLine {
  /** Baseline, PDF units from the bottom of the page. */
  y: number;
  x: number;
  /** Font size in PDF units (the text matrix's vertical scale). */
  size: number;
  text: string;
}

interface PdfFragment {
  x: number;
  y: number;
  size: number;
  width: number;
  str: string;
}

export interface PdfParseContext {
  limits: ParseLimits;
  ocr: OcrEngine | undefined;
  warnings: string[];
  signal?: AbortSignal;
}

/** Time allowed for PDF.js to hand over a decoded image before the page is given up, in ms. */
const IMAGE_WAIT_MS = 20_000;
/**
 * A page with fewer visible characters than this in its text layer (a stamped page number, a
 * header) is also OCR'd when an image covers a good part of it: a scan with a little text on top.
 */
const SPARSE_TEXT_CHARS = 32;
/** "A good part" for the rule above; logos and signatures cover far less. */
const SCAN_MIN_COVERAGE = 0.1;

/**
 * PDF via unpdf's serverless PDF.js: the text layer per page, grouped into lines and blocks by
 * geometry, blocks classed as headings (larger type, or a heading-shaped line), list items
 * (bullet/enumerator) or paragraphs. Pages with no text layer are OCR'd from their largest image.
 */
export async function parsePdf(bytes: Uint8Array, builder: DocumentBuilder, context: PdfParseContext): Promise<Record<string, string | number | boolean | null>> {
  assertPdfComplete(bytes);
  let pdf: PdfDocument;
  try {
    // A copy: PDF.js may take ownership of (detach) the buffer it is given.
    pdf = await getDocumentProxy(bytes.slice(), {
      verbosity: 0,
      isEvalSupported: false,
      stopAtErrors: false,
      // PDF.js leaves larger images undecoded, so one huge image cannot exhaust memory.
      maxImageSize: context.limits.maxImagePixels,
    });
  } catch (error) {
    throw pdfOpenError(error);
  }
  try {
    if (pdf.numPages > context.limits.maxPages) {
      throw new ParseError('RESOURCE_LIMIT', `The PDF has ${pdf.numPages} pages; the limit is ${context.limits.maxPages}.`);
    }
    const pageLines: PdfLine[][] = [];
    for (let number = 1; number <= pdf.numPages; number++) {
      throwIfAborted(context.signal);
      const page = await pdf.getPage(number).catch(() => {
        throw new ParseError('FILE_CORRUPTED', `Page ${number} of the PDF could not be read.`);
      });
      const content = await page.getTextContent().catch(() => {
        throw new ParseError('FILE_CORRUPTED', `Page ${number} of the PDF could not be read.`);
      });
      const fragments: PdfFragment[] = [];
      for (const item of content.items) {
        if (!('str' in item) || item.str === '') continue;
        const [, , c, d, e, f] = item.transform as number[];
        fragments.push({ x: e, y: f, size: Math.hypot(c, d) || item.height || 1, width: item.width, str: item.str });
      }
      pageLines.push(groupLines(fragments));
      page.cleanup();
    }
    const style = measureStyle(pageLines);
    let ocrPages = 0;
    let confidenceSum = 0;
    for (let index = 0; index < pageLines.length; index++) {
      const number = index + 1;
      builder.beginPage(number);
      const lines = pageLines[index];
      const visibleChars = lines.reduce((sum, line) => sum + line.text.replace(/\s/g, '').length, 0);
      if (visibleChars > 0) addPageBlocks(builder, lines, style);
      if (visibleChars < SPARSE_TEXT_CHARS) {
        const confidence = await ocrPage(pdf, number, builder, context, ocrPages, visibleChars > 0);
        if (confidence !== null) {
          ocrPages++;
          confidenceSum += confidence;
        }
      }
      builder.endPage();
    }
    const meta = await pdf.getMetadata().catch(() => null);
    const info = (meta?.info ?? {}) as Record<string, unknown>;
    return {
      page_count: pdf.numPages,
      ocr_pages: ocrPages,
      ocr_mean_confidence: ocrPages ? Math.round((confidenceSum / ocrPages) * 10) / 10 : null,
      title: typeof info.Title === 'string' && info.Title.trim() ? info.Title.trim().slice(0, 500) : null,
      pdfjs_version: (await getResolvedPDFJS()).version,
    };
  } finally {
    await pdf.destroy().catch(() => undefined);
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ParseError('PARSE_TIMEOUT', 'Parsing took longer than allowed.');
}

/**
 * A PDF ends with `%%EOF` (readers look in the last 1 KiB). Without it the upload was cut short;
 * PDF.js would sometimes rebuild what it can and silently index part of the document.
 */
function assertPdfComplete(bytes: Uint8Array): void {
  const tail = new TextDecoder('latin1').decode(bytes.subarray(Math.max(0, bytes.length - 1024)));
  if (!tail.includes('%%EOF')) {
    throw new ParseError('FILE_CORRUPTED', 'The PDF is truncated: it has no end-of-file marker.');
  }
}

function pdfOpenError(error: unknown): ParseError {
  const name = error instanceof Error ? error.name : '';
  if (name === 'PasswordException') return new ParseError('ENCRYPTED_PDF', 'The PDF is password-protected.');
  return new ParseError('FILE_CORRUPTED', 'The PDF is damaged and could not be opened.');
}

/** Fragments on (nearly) the same baseline form a line; lines run top to bottom. */
function groupLines(fragments: PdfFragment[]): PdfLine[] {
  const sorted = [...fragments].sort((a, b) => b.y - a.y || a.x - b.x);
  const groups: PdfFragment[][] = [];
  for (const fragment of sorted) {
    const group = groups[groups.length - 1];
    // Same line when baselines differ by less than 40 % of the font size (superscripts stay in).
    if (group && Math.abs(group[0].y - fragment.y) <= 0.4 * Math.max(group[0].size, fragment.size)) group.push(fragment);
    else groups.push([fragment]);
  }
  return groups.map((group) => {
    group.sort((a, b) => a.x - b.x);
    let text = '';
    let right = -Infinity;
    let size = 0;
    let weight = 0;
    for (const fragment of group) {
      const gap = fragment.x - right;
      if (text && !/\s$/.test(text) && !/^\s/.test(fragment.str) && gap > 0.15 * fragment.size) text += ' ';
      text += fragment.str;
      right = Math.max(right, fragment.x + fragment.width);
      const chars = fragment.str.trim().length;
      size += fragment.size * chars;
      weight += chars;
    }
    return { y: group[0].y, x: group[0].x, size: weight ? size / weight : group[0].size, text: text.trim() };
  }).filter((line) => line.text !== '');
}

interface PdfStyle {
  /** The font size carrying most characters: body text. */
  bodySize: number;
  /** Usual baseline-to-baseline distance inside a paragraph, per body size. */
  leadingRatio: number;
  /** Sizes clearly larger than body text, largest first: heading levels 1, 2, … */
  headingSizes: number[];
}

const roundSize = (size: number): number => Math.round(size * 2) / 2;

function measureStyle(pages: PdfLine[][]): PdfStyle {
  const chars = new Map<number, number>();
  const ratios: number[] = [];
  for (const lines of pages) {
    for (let i = 0; i < lines.length; i++) {
      const size = roundSize(lines[i].size);
      chars.set(size, (chars.get(size) ?? 0) + lines[i].text.length);
      const prev = lines[i - 1];
      if (prev && roundSize(prev.size) === size && size > 0) {
        const ratio = (prev.y - lines[i].y) / size;
        if (ratio > 0.5 && ratio < 4) ratios.push(ratio);
      }
    }
  }
  let bodySize = 0;
  let most = -1;
  for (const [size, count] of chars) {
    if (count > most) {
      most = count;
      bodySize = size;
    }
  }
  ratios.sort((a, b) => a - b);
  const leadingRatio = ratios.length ? ratios[Math.floor(ratios.length / 4)] : 1.2; // lower quartile: in-paragraph spacing
  const headingSizes = [...chars.keys()].filter((size) => size >= bodySize * 1.12).sort((a, b) => b - a);
  return { bodySize, leadingRatio, headingSizes };
}

interface PdfBlock {
  lines: PdfLine[];
}

function addPageBlocks(builder: DocumentBuilder, lines: PdfLine[], style: PdfStyle): void {
  const blocks: PdfBlock[] = [];
  for (const line of lines) {
    const block = blocks[blocks.length - 1];
    const prev = block?.lines[block.lines.length - 1];
    const startsNew =
      !block ||
      !prev ||
      Math.abs(roundSize(line.size) - roundSize(prev.size)) > 0.1 * prev.size ||
      prev.y - line.y > style.leadingRatio * Math.max(line.size, prev.size) * 1.35 ||
      prev.y < line.y ||
      isListMarkerLine(line.text) ||
      (block.lines.length === 1 && isPatternHeading(block, style));
    if (startsNew) blocks.push({ lines: [line] });
    else block.lines.push(line);
  }
  for (const block of blocks) {
    const text = joinLines(block.lines.map((line) => line.text));
    if (isHeadingBlock(block, style)) {
      builder.add('heading', text, { level: headingLevel(block, style) });
    } else if (isListMarkerLine(block.lines[0].text)) {
      builder.add('list_item', text);
    } else {
      builder.add(paragraphType(text), text);
    }
  }
}

function isHeadingBlock(block: PdfBlock, style: PdfStyle): boolean {
  if (block.lines.length > 3) return false;
  const text = joinLines(block.lines.map((line) => line.text));
  if (text.length > 200) return false;
  const size = roundSize(block.lines[0].size);
  if (style.headingSizes.includes(size) && /\p{L}/u.test(text)) return true;
  return block.lines.length === 1 && size >= style.bodySize && looksLikeHeading(text);
}

/** A body-size line that reads like a heading ("4. PAYMENT"): it never continues into the next line. */
function isPatternHeading(block: PdfBlock, style: PdfStyle): boolean {
  const size = roundSize(block.lines[0].size);
  return block.lines.length === 1 && !style.headingSizes.includes(size) && size >= style.bodySize && looksLikeHeading(block.lines[0].text);
}

function headingLevel(block: PdfBlock, style: PdfStyle): number {
  const size = roundSize(block.lines[0].size);
  const rank = style.headingSizes.indexOf(size);
  if (rank >= 0) return rank + 1;
  const depth = numberingDepth(block.lines[0].text);
  return style.headingSizes.length + Math.max(depth, 1);
}

/**
 * OCRs the largest image on a page without (or with hardly any) text layer; returns the
 * confidence, or null when nothing was OCR'd. `sparse`: the page has a little text already, so
 * only a page-sized image counts (not a logo).
 */
async function ocrPage(
  pdf: PdfDocument,
  number: number,
  builder: DocumentBuilder,
  context: PdfParseContext,
  ocrPagesSoFar: number,
  sparse: boolean,
): Promise<number | null> {
  const page = await pdf.getPage(number);
  try {
    const found = await largestImage(page);
    if (!found) return null; // a blank page
    if (sparse && found.coverage < SCAN_MIN_COVERAGE) return null;
    const image = rotateRaster(toGreyscale(found.image), page.rotate);
    if (!context.ocr) {
      context.warnings.push(
        sparse
          ? `Page ${number} is a scanned image with little text and OCR is not available; the image was not read.`
          : `Page ${number} has no text layer and OCR is not available; it was skipped.`,
      );
      return null;
    }
    if (ocrPagesSoFar + 1 > context.limits.maxOcrPages) {
      throw new ParseError('RESOURCE_LIMIT', `The PDF needs OCR on more than ${context.limits.maxOcrPages} pages.`);
    }
    if (image.width * image.height > context.limits.maxImagePixels) {
      throw new ParseError('RESOURCE_LIMIT', `Page ${number} holds an image of more than ${context.limits.maxImagePixels} pixels.`);
    }
    throwIfAborted(context.signal);
    let output;
    try {
      output = await context.ocr.recognize({ kind: 'raster', image });
    } catch (error) {
      if (error instanceof OcrImageError) {
        context.warnings.push(`The image on page ${number} could not be read by OCR; the page was skipped.`);
        return null;
      }
      throw error;
    }
    if (addOcrText(builder, output) === 0 && !sparse) {
      context.warnings.push(`Page ${number} has no text layer and OCR found no text on it.`);
    }
    return output.confidence;
  } finally {
    page.cleanup();
  }
}

/**
 * Turns a grey raster by the page's /Rotate (clockwise degrees), so a scan stored sideways and
 * shown upright is also upright for OCR (the LSTM model does not detect orientation).
 */
function rotateRaster(image: RasterImage, degrees: number): RasterImage {
  const turn = ((Math.round(degrees / 90) % 4) + 4) % 4;
  if (turn === 0 || image.channels !== 1) return image;
  const { width, height, data } = image;
  const out = new Uint8Array(width * height);
  const outWidth = turn === 2 ? width : height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let tx: number;
      let ty: number;
      if (turn === 1) {
        tx = height - 1 - y;
        ty = x;
      } else if (turn === 2) {
        tx = width - 1 - x;
        ty = height - 1 - y;
      } else {
        tx = y;
        ty = width - 1 - x;
      }
      out[ty * outWidth + tx] = data[y * width + x];
    }
  }
  return { width: outWidth, height: turn === 2 ? height : width, channels: 1, data: out };
}

/** PDF.js image kinds (src/shared/util.js ImageKind). */
const GRAYSCALE_1BPP = 1;
const RGB_24BPP = 2;
const RGBA_32BPP = 3;

interface PdfImageData {
  width: number;
  height: number;
  kind?: number;
  data?: Uint8Array | Uint8ClampedArray;
}

interface ImageCandidate {
  width: number;
  height: number;
  /** Share of the page the image covers as drawn (0–1), from the transformation matrix. */
  coverage: number;
  mask: boolean;
  load: () => Promise<PdfImageData | null>;
}

type Matrix = [number, number, number, number, number, number];

function multiply(m: Matrix, n: Matrix): Matrix {
  return [
    n[0] * m[0] + n[1] * m[2],
    n[0] * m[1] + n[1] * m[3],
    n[2] * m[0] + n[3] * m[2],
    n[2] * m[1] + n[3] * m[3],
    n[4] * m[0] + n[5] * m[2] + m[4],
    n[4] * m[1] + n[5] * m[3] + m[5],
  ];
}

/**
 * The image drawn over the largest part of the page (images are painted into the unit square,
 * so the current matrix's determinant is the drawn area), decoded to pixels.
 */
async function largestImage(page: PdfPage): Promise<{ image: RasterImage; coverage: number } | null> {
  const { OPS } = await getResolvedPDFJS();
  const operators = await page.getOperatorList();
  const [x0, y0, x1, y1] = page.view;
  const pageArea = Math.abs((x1 - x0) * (y1 - y0)) || 1;
  let ctm: Matrix = [1, 0, 0, 1, 0, 0];
  const saved: Matrix[] = [];
  let best: ImageCandidate | null = null;
  for (let i = 0; i < operators.fnArray.length; i++) {
    const op = operators.fnArray[i];
    const args = operators.argsArray[i] as unknown[];
    if (op === OPS.save) {
      saved.push(ctm);
      continue;
    }
    if (op === OPS.restore) {
      ctm = saved.pop() ?? [1, 0, 0, 1, 0, 0];
      continue;
    }
    if (op === OPS.transform) {
      ctm = multiply(ctm, args as Matrix);
      continue;
    }
    const coverage = Math.min(1, Math.abs(ctm[0] * ctm[3] - ctm[1] * ctm[2]) / pageArea);
    let candidate: ImageCandidate | null = null;
    if (op === OPS.paintImageXObject) {
      const [key, width, height] = args as [string, number, number];
      candidate = { width, height, coverage, mask: false, load: () => resolveObject(page, key) };
    } else if (op === OPS.paintInlineImageXObject || op === OPS.paintImageMaskXObject) {
      const data = args[0] as PdfImageData;
      candidate = { width: data.width, height: data.height, coverage, mask: op === OPS.paintImageMaskXObject, load: async () => data };
    }
    if (candidate && (!best || candidate.coverage > best.coverage)) best = candidate;
  }
  if (!best) return null;
  const data = await best.load();
  if (!data?.data) return null;
  const image = toRaster(data, best.mask);
  return image ? { image, coverage: best.coverage } : null;
}

function resolveObject(page: PdfPage, key: string): Promise<PdfImageData | null> {
  const store = key.startsWith('g_') ? page.commonObjs : page.objs;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), IMAGE_WAIT_MS);
    store.get(key, (value: unknown) => {
      clearTimeout(timer);
      resolve((value ?? null) as PdfImageData | null);
    });
  });
}

/** PDF.js's decoded pixels as 8-bit samples. Bilevel data and masks: bit 1 is white (no ink). */
function toRaster(image: PdfImageData, mask: boolean): RasterImage | null {
  const { width, height } = image;
  const data = image.data;
  if (!data || !width || !height) return null;
  const kind = mask ? GRAYSCALE_1BPP : image.kind;
  if (kind === RGB_24BPP && data.length >= width * height * 3) return { width, height, channels: 3, data };
  if (kind === RGBA_32BPP && data.length >= width * height * 4) return { width, height, channels: 4, data };
  if (kind === GRAYSCALE_1BPP) {
    const stride = (width + 7) >> 3;
    const grey = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const bit = (data[y * stride + (x >> 3)] >> (7 - (x & 7))) & 1;
        grey[y * width + x] = bit ? 255 : 0;
      }
    }
    return { width, height, channels: 1, data: grey };
  }
  return null;
}
