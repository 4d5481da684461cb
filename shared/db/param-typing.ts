/**
 * drizzle asks its dialect, for every bound parameter of every statement, which wire type the
 * parameter's column has (`prepareTyping`): up to eleven class checks that each walk a prototype
 * chain. A chunk insert binds some 700 parameters, so this cost more than building the rest of
 * the statement. The answer depends only on the column object, and columns live as long as their
 * tables, so it is remembered per column. Applied to one drizzle instance; the same function
 * answers, only once per column.
 */
export function rememberParamTyping<T>(db: T): T {
  const dialect = (db as { dialect?: { prepareTyping?: (encoder: unknown) => string } }).dialect;
  const original = dialect?.prepareTyping;
  if (!dialect || typeof original !== 'function') return db;
  const known = new WeakMap<object, string>();
  dialect.prepareTyping = (encoder: unknown) => {
    if (!encoder || typeof encoder !== 'object') return original.call(dialect, encoder);
    let typing = known.get(encoder);
    if (typing === undefined) known.set(encoder, (typing = original.call(dialect, encoder)));
    return typing;
  };
  return db;
}
