/**
 * A small contract-like PDF (standard Helvetica, a heading and numbered clauses per page), made
 * in memory for warming the parser threads up: parsing it a few times at start-up has V8 compile
 * PDF.js's text path before the first real document waits for it.
 */
export function samplePdf(pages = 4): Uint8Array {
  const objects: string[] = [];
  const add = (body: string) => objects.push(body) - 1 + 1;
  const catalog = add('<< /Type /Catalog /Pages 2 0 R >>');
  const pagesId = add('');
  const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>');
  const bold = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>');
  const kids: number[] = [];
  for (let p = 1; p <= pages; p++) {
    const lines = [`BT /F2 16 Tf 72 760 Td (Section ${p}. Services and payment) Tj ET`];
    for (let i = 0; i < 30; i++) {
      const text = `${p}.${i + 1} The supplier delivers the services described in schedule ${i + 1} and invoices monthly; payment is due within ${15 + i} days.`;
      lines.push(`BT /F1 10 Tf 72 ${730 - i * 20} Td (${text}) Tj ET`);
    }
    const stream = lines.join('\n');
    const content = add(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
    kids.push(add(`<< /Type /Page /Parent ${pagesId} 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 ${font} 0 R /F2 ${bold} 0 R >> >> /Contents ${content} 0 R >>`));
  }
  objects[pagesId - 1] = `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  return pdfFile(objects, catalog);
}

/**
 * A PDF file from its objects (object n is `objects[n - 1]`, ASCII only) with a correct
 * cross-reference table, `root` naming the catalog.
 */
export function pdfFile(objects: readonly string[], root: number): Uint8Array {
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root ${root} 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  // Every character is ASCII, so string offsets are byte offsets.
  return new TextEncoder().encode(out);
}
