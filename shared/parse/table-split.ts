/**
 * A large sheet or CSV becomes several table elements of at most this many rows (or about this
 * many characters), so one element stays a sensible unit for chunking and display. Rows are never
 * split.
 */
export const TABLE_ROWS_PER_ELEMENT = 200;
export const TABLE_CHARS_PER_ELEMENT = 20_000;

export function splitTableRows(rows: readonly string[][]): string[][][] {
  const batches: string[][][] = [];
  let batch: string[][] = [];
  let chars = 0;
  for (const row of rows) {
    const rowChars = row.reduce((sum, cell) => sum + cell.length + 1, 0);
    if (batch.length > 0 && (batch.length >= TABLE_ROWS_PER_ELEMENT || chars + rowChars > TABLE_CHARS_PER_ELEMENT)) {
      batches.push(batch);
      batch = [];
      chars = 0;
    }
    batch.push(row);
    chars += rowChars;
  }
  if (batch.length) batches.push(batch);
  return batches;
}
