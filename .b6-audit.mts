import { writeFileSync, createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { canonicalJson, signManifest, verifyExport, GENESIS_HASH } from './shared/audit';
import { nodeSha256 } from './shared/node/sha256';
const N = Number(process.argv[2] ?? 100000);
let prev = GENESIS_HASH; const lastOf = new Map<string,string>(); let text = '';
const parts: string[] = [];
for (let i = 1; i <= N; i++) {
  const doc = `doc_${i % 1000}`;
  const body = { event_id: `evt_${i.toString(16).padStart(32,'0')}`, tenant_id: 'bench', seq: i, event_type: 'DOCUMENT_PARSED', timestamp: new Date(1767225600000 + i).toISOString(), actor: 'system', resource_type: 'document', resource_id: doc, details: { component: 'parse-worker', input_hash: 'a'.repeat(64), output_hash: 'b'.repeat(64), pipeline_version: '1.0.0', duration_ms: i % 5000, status: 'success' }, previous_event_id: lastOf.get(doc) ?? null, prev_hash: prev };
  const hash = createHash('sha256').update(canonicalJson(body)).digest('hex');
  parts.push(canonicalJson({ ...body, hash }) + '\n'); prev = hash; lastOf.set(doc, body.event_id);
}
text = parts.join('');
writeFileSync('/tmp/audit-scratch/v.jsonl', text);
const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k' }] };
const m = await signManifest({ tenant_id: 'bench', format: 'jsonl', from: null, to: null, event_count: N, file_sha256: createHash('sha256').update(text).digest('hex'), first_seq: 1, last_seq: N, first_prev_hash: GENESIS_HASH, last_hash: prev, created_at: new Date().toISOString() }, { kid: 'k', privateKey });
for (let r = 0; r < 3; r++) {
  const t = performance.now();
  const res = await verifyExport(createReadStream('/tmp/audit-scratch/v.jsonl', { highWaterMark: 1 << 20 }), m, jwks, { sha256: nodeSha256 });
  console.log(res.ok, ((performance.now() - t)/1000).toFixed(2), 's');
}
let t = performance.now(); createHash('sha256').update(text).digest('hex'); console.log('sha in-proc', ((performance.now()-t)/1000).toFixed(3));
