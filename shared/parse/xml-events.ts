import { SaxesParser } from 'saxes';

/** Callbacks for a streaming walk over an XML (or mammoth's well-formed HTML) document. */
export interface XmlHandlers {
  open?(name: string, attributes: Readonly<Record<string, string>>, selfClosing: boolean): void;
  close?(name: string): void;
  text?(text: string): void;
}

/**
 * Walks XML with saxes (no namespace processing: names keep their prefixes, `a:t`, `p:sp`).
 * Throws on malformed XML; callers turn that into FILE_CORRUPTED.
 */
export function walkXml(xml: string, handlers: XmlHandlers): void {
  const parser = new SaxesParser({ position: false });
  parser.on('opentag', (tag) => {
    handlers.open?.(tag.name, tag.attributes as Record<string, string>, tag.isSelfClosing);
    if (tag.isSelfClosing) handlers.close?.(tag.name);
  });
  parser.on('closetag', (tag) => {
    if (!tag.isSelfClosing) handlers.close?.(tag.name);
  });
  parser.on('text', (text) => handlers.text?.(text));
  parser.on('cdata', (text) => handlers.text?.(text));
  parser.on('error', (error) => {
    throw error;
  });
  parser.write(xml).close();
}
