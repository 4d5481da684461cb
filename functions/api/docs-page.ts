/**
 * The interactive API reference at /docs: one self-contained HTML page (inline CSS and script, no
 * fonts, images or scripts from anywhere else) that renders /openapi.json and can send requests
 * with the caller's token. Self-contained on purpose: @scalar/hono-api-reference 0.12.x requires
 * Node ≥ 22 and loads its bundle from a CDN at runtime, which an offline or locked-down deployment
 * (and the tests) cannot do. The Content-Security-Policy allows exactly these two inline blocks.
 */

export const DOCS_STYLE = `
:root { --fg:#1d2330; --muted:#5b6475; --line:#dde2ea; --bg:#f7f8fa; --accent:#1f5fbf; --get:#1d7f4e; --post:#1f5fbf; --patch:#9a5b00; --delete:#b3261e; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:#fff; }
header { position:sticky; top:0; z-index:2; display:flex; gap:16px; align-items:center; padding:10px 20px; background:#10213f; color:#fff; }
header h1 { font-size:17px; margin:0; font-weight:600; }
header .version { color:#b9c6dd; font-size:12px; }
header a { color:#b9d3ff; }
header input { width:340px; padding:5px 8px; border-radius:4px; border:1px solid #36507d; background:#0b1830; color:#fff; font:12px ui-monospace, monospace; }
header label { font-size:12px; color:#b9c6dd; }
.layout { display:grid; grid-template-columns: 310px 1fr; min-height:calc(100vh - 50px); }
nav { border-right:1px solid var(--line); background:var(--bg); padding:12px; overflow:auto; position:sticky; top:50px; height:calc(100vh - 50px); }
nav input { width:100%; padding:6px 8px; margin-bottom:8px; border:1px solid var(--line); border-radius:4px; }
nav h3 { font-size:12px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin:14px 0 4px; }
nav a { display:flex; gap:6px; align-items:baseline; padding:3px 4px; color:var(--fg); text-decoration:none; border-radius:3px; font-size:12.5px; }
nav a:hover { background:#e9edf3; }
nav a .nav-text { display:flex; flex-direction:column; min-width:0; }
nav a code { font-size:10.5px; color:var(--muted); overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
nav a .method { min-width:48px; font-size:10px; }
main { padding:8px 28px 80px; max-width:1100px; }
.intro { color:var(--muted); white-space:pre-line; }
.tag-title { margin:34px 0 4px; font-size:20px; border-bottom:1px solid var(--line); padding-bottom:4px; }
.op { border:1px solid var(--line); border-radius:6px; margin:14px 0; }
.op > summary { list-style:none; cursor:pointer; display:flex; gap:10px; align-items:center; padding:8px 12px; }
.op > summary::-webkit-details-marker { display:none; }
.op[open] > summary { border-bottom:1px solid var(--line); background:var(--bg); }
.op .path { font:13px ui-monospace, monospace; }
.op .summary { color:var(--muted); }
.op .body { padding:10px 14px; }
.method { display:inline-block; min-width:56px; text-align:center; font:600 11px ui-monospace, monospace; color:#fff; padding:2px 6px; border-radius:3px; text-transform:uppercase; }
.method.get { background:var(--get); } .method.post { background:var(--post); } .method.patch, .method.put { background:var(--patch); } .method.delete { background:var(--delete); }
.internal { font-size:11px; color:var(--muted); border:1px solid var(--line); padding:0 5px; border-radius:3px; }
h4 { margin:16px 0 6px; font-size:13px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
td, th { border-bottom:1px solid var(--line); text-align:left; padding:4px 6px; vertical-align:top; }
pre { background:#0f1729; color:#dce6f7; padding:10px; border-radius:5px; overflow:auto; font:12px/1.45 ui-monospace, monospace; max-height:420px; }
code { font-family:ui-monospace, monospace; }
.schema { font-size:13px; }
.schema ul { list-style:none; padding-left:16px; margin:2px 0; border-left:1px dashed var(--line); }
.schema .name { font-family:ui-monospace, monospace; font-weight:600; }
.schema .type { color:var(--accent); font-family:ui-monospace, monospace; }
.schema .req { color:var(--delete); font-size:11px; }
.schema .desc { color:var(--muted); }
.status { font:600 12px ui-monospace, monospace; }
.try { margin-top:14px; padding:10px; border:1px solid var(--line); border-radius:6px; background:var(--bg); }
.try label { display:block; font-size:12px; color:var(--muted); margin-top:6px; }
.try input[type=text], .try textarea { width:100%; font:12px ui-monospace, monospace; padding:5px; border:1px solid var(--line); border-radius:4px; }
.try textarea { min-height:140px; }
.try button { margin-top:8px; padding:6px 14px; background:var(--accent); color:#fff; border:0; border-radius:4px; cursor:pointer; }
.result-status { font:600 13px ui-monospace, monospace; margin-top:8px; }
.error { color:var(--delete); }
`;

export const DOCS_SCRIPT = `
(() => {
  'use strict';
  const TOKEN_KEY = 'frostbyte.docs.token';
  const h = (tag, attrs, ...children) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  };
  // Descriptions use a little Markdown: paragraphs, \`code\` and **bold**.
  const md = (text) => String(text || '').split(/\\n{2,}/).map((para) => {
    const p = h('p');
    for (const part of para.split(/(\`[^\`]+\`|\\*\\*[^*]+\\*\\*)/)) {
      if (part.startsWith('\`') && part.endsWith('\`') && part.length > 1) p.append(h('code', {}, part.slice(1, -1)));
      else if (part.startsWith('**') && part.endsWith('**')) p.append(h('strong', {}, part.slice(2, -2)));
      else if (part) p.append(part);
    }
    return p;
  });
  const pretty = (v) => typeof v === 'string' ? v : JSON.stringify(v, null, 2);

  let doc;
  const resolve = (schema) => {
    let s = schema || {};
    for (let i = 0; s.$ref && i < 10; i++) s = doc.components.schemas[s.$ref.split('/').pop()] || {};
    return s;
  };
  const typeOf = (s) => {
    s = resolve(s);
    if (s.const !== undefined) return JSON.stringify(s.const);
    if (s.enum) return s.enum.map((e) => JSON.stringify(e)).join(' | ');
    if (s.anyOf) return s.anyOf.map(typeOf).join(' | ');
    if (s.type === 'array') return typeOf(s.items) + '[]';
    return (s.type || 'any') + (s.format ? ' (' + s.format + ')' : '');
  };
  const renderSchema = (schema, depth = 0) => {
    const s = resolve(schema);
    const inner = s.type === 'array' ? resolve(s.items) : s.anyOf ? resolve(s.anyOf.find((x) => resolve(x).type === 'object') || {}) : s;
    if (!inner.properties || depth > 6) return null;
    const req = new Set(inner.required || []);
    return h('ul', {}, Object.entries(inner.properties).map(([name, prop]) => {
      const p = resolve(prop);
      const notes = [p.pattern ? 'pattern ' + p.pattern : '', p.minLength !== undefined ? 'min length ' + p.minLength : '', p.maxLength !== undefined ? 'max length ' + p.maxLength : '',
        p.minimum !== undefined ? '≥ ' + p.minimum : '', p.maximum !== undefined ? '≤ ' + p.maximum : '', p.default !== undefined ? 'default ' + JSON.stringify(p.default) : ''].filter(Boolean).join(', ');
      return h('li', {}, h('span', { class: 'name' }, name), ' ', h('span', { class: 'type' }, typeOf(p)), req.has(name) ? h('span', { class: 'req' }, ' required') : '',
        p.description ? h('span', { class: 'desc' }, ' — ' + p.description) : '', notes ? h('span', { class: 'desc' }, ' (' + notes + ')') : '', renderSchema(p, depth + 1));
    }));
  };

  const tryPanel = (path, method, op) => {
    const params = (op.parameters || []);
    const inputs = {};
    const fields = params.map((p) => {
      const input = h('input', { type: 'text', name: p.in + ':' + p.name, value: p.example !== undefined ? p.example : '', placeholder: p.in === 'query' ? '(optional)' : '' });
      inputs[p.in + ':' + p.name] = input;
      return h('label', {}, p.in + ' ' + p.name, input);
    });
    const content = op.requestBody && op.requestBody.content || {};
    let bodyField = null, manifestField = null, filesField = null;
    if (content['application/json']) {
      const ex = Object.values(content['application/json'].examples || {})[0];
      bodyField = h('textarea', { name: 'body' }, ex ? pretty(ex.value) : '{}');
      fields.push(h('label', {}, 'JSON body', bodyField));
    } else if (content['multipart/form-data']) {
      const ex = Object.values(content['multipart/form-data'].examples || {})[0];
      manifestField = h('textarea', { name: 'manifest' }, ex ? pretty(ex.value.manifest) : '{}');
      filesField = h('input', { type: 'file', name: 'files', multiple: true });
      fields.push(h('label', {}, 'manifest (JSON)', manifestField), h('label', {}, 'files (their names must match the manifest)', filesField));
    }
    const out = h('div', { class: 'result' });
    const send = async () => {
      out.replaceChildren(h('div', { class: 'result-status' }, 'sending…'));
      let url = path.replace(/\\{([^}]+)\\}/g, (_, n) => encodeURIComponent(inputs['path:' + n] ? inputs['path:' + n].value : ''));
      const qs = new URLSearchParams();
      for (const p of params) if (p.in === 'query' && inputs['query:' + p.name].value) qs.set(p.name, inputs['query:' + p.name].value);
      if ([...qs].length) url += '?' + qs;
      const headers = {};
      const token = document.getElementById('token').value.trim();
      if (token) headers.authorization = 'Bearer ' + token;
      let body;
      if (bodyField) { headers['content-type'] = 'application/json'; body = bodyField.value; }
      if (manifestField) {
        body = new FormData();
        body.append('manifest', new Blob([manifestField.value], { type: 'application/json' }), 'manifest.json');
        for (const f of filesField.files) body.append('files', f, f.name);
      }
      try {
        const res = await fetch(url, { method: method.toUpperCase(), headers, body });
        const text = await res.text();
        let shown = text;
        try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON: show as is */ }
        out.replaceChildren(h('div', { class: 'result-status', 'data-status': res.status }, res.status + ' ' + res.statusText + ' · ' + (res.headers.get('content-type') || '')), h('pre', { class: 'response-body' }, shown));
      } catch (e) {
        out.replaceChildren(h('div', { class: 'result-status error' }, 'request failed: ' + e.message));
      }
    };
    return h('div', { class: 'try' }, h('strong', {}, 'Try it'), ' ', h('span', { class: 'desc' }, 'against ' + location.origin + ' with the token above'), fields, h('button', { type: 'button', onclick: send }, 'Send ' + method.toUpperCase()), out);
  };

  const renderOp = (path, method, op) => {
    const id = op.operationId || (method + path);
    const body = h('div', { class: 'body' });
    const details = h('details', { class: 'op', id, 'data-path': path, 'data-method': method },
      h('summary', {}, h('span', { class: 'method ' + method }, method), h('span', { class: 'path' }, path), h('span', { class: 'summary' }, op.summary), op['x-internal'] ? h('span', { class: 'internal' }, 'internal') : ''),
      body);
    let filled = false;
    details.addEventListener('toggle', () => {
      if (!details.open || filled) return;
      filled = true;
      body.append(...md(op.description));
      if (op.parameters && op.parameters.length) {
        body.append(h('h4', {}, 'Parameters'), h('table', {}, h('tr', {}, h('th', {}, 'name'), h('th', {}, 'in'), h('th', {}, 'type'), h('th', {}, 'description')),
          op.parameters.map((p) => h('tr', {}, h('td', {}, h('code', {}, p.name), p.required ? h('span', { class: 'req' }, ' *') : ''), h('td', {}, p.in), h('td', {}, typeOf(p.schema)), h('td', {}, p.description || '')))));
      }
      if (op.requestBody) {
        for (const [type, media] of Object.entries(op.requestBody.content || {})) {
          body.append(h('h4', {}, 'Request body · ', h('code', {}, type)));
          if (op.requestBody.description) body.append(...md(op.requestBody.description));
          body.append(h('div', { class: 'schema' }, renderSchema(type === 'multipart/form-data' ? media.schema.properties.manifest : media.schema)));
          for (const [name, ex] of Object.entries(media.examples || {})) body.append(h('div', { class: 'desc' }, 'Example: ' + (ex.summary || name)), h('pre', {}, pretty(ex.value)));
        }
      }
      body.append(h('h4', {}, 'Responses'));
      for (const [status, r] of Object.entries(op.responses || {})) {
        body.append(h('div', {}, h('span', { class: 'status' }, status), ' ', r.description));
        for (const [type, media] of Object.entries(r.content || {})) {
          if (media.schema && status.startsWith('2')) body.append(h('div', { class: 'schema' }, renderSchema(media.schema)));
          if (media.example !== undefined) body.append(h('pre', {}, pretty(media.example)));
          for (const [code, ex] of Object.entries(media.examples || {})) body.append(h('div', { class: 'desc' }, code + ' (' + type + ')'), h('pre', {}, pretty(ex.value)));
        }
      }
      if (!op['x-internal']) body.append(tryPanel(path, method, op));
    });
    return details;
  };

  const render = () => {
    document.getElementById('title').textContent = doc.info.title;
    document.getElementById('version').textContent = 'v' + doc.info.version + ' · OpenAPI ' + doc.openapi;
    document.getElementById('intro').replaceChildren(...md(doc.info.description));
    const nav = document.getElementById('nav-list');
    const main = document.getElementById('operations');
    main.replaceChildren();
    const byTag = new Map(doc.tags.map((t) => [t.name, []]));
    for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags && op.tags[0]) || 'Other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
    }
    for (const [tag, ops] of byTag) {
      if (!ops.length) continue;
      const info = doc.tags.find((t) => t.name === tag);
      nav.append(h('h3', {}, tag));
      main.append(h('h2', { class: 'tag-title', id: 'tag-' + tag.replace(/\\W+/g, '-') }, tag), info ? h('div', { class: 'desc' }, info.description) : '');
      for (const { path, method, op } of ops) {
        const el = renderOp(path, method, op);
        main.append(el);
        nav.append(h('a', { href: '#' + el.id, title: path, 'data-filter': (method + ' ' + path + ' ' + op.summary).toLowerCase(), onclick: () => { el.open = true; } },
          h('span', { class: 'method ' + method }, method), h('span', { class: 'nav-text' }, h('span', {}, op.summary), h('code', {}, path))));
      }
    }
    document.getElementById('filter').addEventListener('input', (e) => {
      const q = e.target.value.toLowerCase();
      for (const a of nav.querySelectorAll('a')) a.hidden = q !== '' && !a.dataset.filter.includes(q);
    });
    const target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.tagName === 'DETAILS') { target.open = true; target.scrollIntoView(); }
    document.body.dataset.ready = 'true';
  };

  const token = document.getElementById('token');
  token.value = sessionStorage.getItem(TOKEN_KEY) || '';
  token.addEventListener('change', () => sessionStorage.setItem(TOKEN_KEY, token.value.trim()));
  fetch(document.body.dataset.spec).then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); }).then((d) => { doc = d; render(); })
    .catch((e) => { document.getElementById('operations').replaceChildren(h('p', { class: 'error' }, 'Could not load the OpenAPI document: ' + e.message)); });
})();
`;

export function docsHtml(specUrl: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Frostbyte API reference</title>
<link rel="icon" href="data:,">
<style>${DOCS_STYLE}</style>
</head>
<body data-spec="${specUrl}">
<header>
  <h1 id="title">Frostbyte API</h1><span class="version" id="version"></span>
  <a href="${specUrl}">openapi.json</a>
  <label for="token">Bearer token</label><input id="token" type="password" autocomplete="off" placeholder="paste a token to try requests (kept in this tab only)">
</header>
<div class="layout">
  <nav><input id="filter" type="search" placeholder="filter routes…" aria-label="filter routes"><div id="nav-list"></div></nav>
  <main><div class="intro" id="intro"></div><div id="operations"><p>Loading the API description…</p></div></main>
</div>
<script>${DOCS_SCRIPT}</script>
</body>
</html>
`;
}
