/**
 * `@aws-sdk/xml-builder` for Workers (wrangler.toml `[alias]`, vitest.config.ts `resolve.alias`).
 * Bundlers that honour the package's `browser` field pick its DOMParser-based XML parser, and
 * workerd has no DOMParser (aws/aws-sdk-js-v3#7375): every S3 response with an XML body (errors,
 * listings) would throw. This re-exports the package with its own portable parser instead. The
 * relative paths bypass the alias (which would otherwise point back here) and the `browser` map.
 */
export { XmlNode } from '../../node_modules/@aws-sdk/xml-builder/dist-es/XmlNode.js';
export { XmlText } from '../../node_modules/@aws-sdk/xml-builder/dist-es/XmlText.js';
export { parseXML } from '../../node_modules/@aws-sdk/xml-builder/dist-es/xml-parser.js';
