import canonicalize from 'canonicalize';
import type { FileStatus } from '../db/schema/tenant';
import * as v from 'valibot';
import { recordEvent } from '../audit/record';
import { sha256Hex } from '../hash';
import { completeBatchIfDone } from '../intake/batch-status';
import { ParseError, type ParsedDocument } from '../parse/types';
import { enqueueStep } from '../queue/outbox';
import { RetryableStepError, type StepContext, type StepDefinition, type StepResult } from '../queue/step';
import type { Services } from '../services';
import { parsedKey } from '../storage/object-store';
import type { DataPlane } from '../tenants/data-plane';
import { claimStepRun, loadStepInput, StepAlreadyDone } from './claim';
import { setFileStage, startFileStage } from './file-state';
import type { CanonicalDocument } from './ports';

export const ParsePayload = v.object({
  tenant_id: v.string(),
  doc_id: v.pipe(v.string(), v.startsWith('doc_')),
  batch_id: v.string(),
  file_id: v.string(),
  sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  storage_key: v.string(),
  mime_type: v.string(),
  /** Operator retries bump this so their messages are not deduplicated against the first run. */
  generation: v.optional(v.number(), 0),
});
export type ParsePayload = v.InferOutput<typeof ParsePayload>;

const encoder = new TextEncoder();

/** Where a parse may start: received, or parsing (a retry of one that stopped). */
const PARSE_FROM: FileStatus[] = ['received', 'parsing'];

/** Index message for a parsed document; the dedup id ties it to the parse output. */
export function indexMessage(p: ParsePayload, parsed: { key: string; sha256: string; parserVersion: string }) {
  return {
    topic: 'index',
    dedupId: `${p.doc_id}:index:${parsed.sha256}${p.generation ? `:g${p.generation}` : ''}`,
    tenantId: p.tenant_id,
    payload: {
      tenant_id: p.tenant_id, doc_id: p.doc_id, batch_id: p.batch_id, file_id: p.file_id, source_sha256: p.sha256,
      mime_type: p.mime_type, parsed_key: parsed.key, parsed_sha256: parsed.sha256, parser_version: parsed.parserVersion, generation: p.generation,
    },
  };
}

/**
 * Parse step: raw bytes → canonical JSON in object storage → index message. Keyed by
 * (doc, parse, raw sha256, parser version): a redelivery of finished work does nothing.
 */
export async function runParseStep(services: Services, plane: DataPlane, p: ParsePayload, ctx: StepContext): Promise<StepResult> {
  const parser = services.parser;
  if (!parser) throw new RetryableStepError('no parser is configured in this runtime');
  const key = { docId: p.doc_id, step: 'parse', inputSha256: p.sha256, codeVersion: parser.version };
  const parsing = await startFileStage(plane.db, plane.tables, key, { status: 'parsing', stage: 'parse', at: services.clock.now(), from: PARSE_FROM });
  if (!parsing) {
    // Not started: say why (gone, done before, or in another state).
    const input = await loadStepInput(plane.db, plane.tables, key);
    if (!input) return { status: 'skipped', detail: 'document not found' };
    const { file, done } = input;
    if (done) {
      // Parsed before; an operator retry of a later stage still needs its index message.
      if (file.status === 'parsed' || file.status === 'index_failed' || file.status === 'indexing') {
        await enqueueStep(plane.db, plane.tables, services.clock, indexMessage(p, { key: parsedKey(p.tenant_id, p.doc_id, parser.version), sha256: done.outputSha256, parserVersion: parser.version }));
        services.onOutboxWritten?.(p.tenant_id);
      }
      return { status: 'already_done' };
    }
    if (!PARSE_FROM.includes(file.status)) return { status: 'skipped', detail: `file is ${file.status}` };
    throw new RetryableStepError('the file changed while the parse step started', 1);
  }
  const bytes = await plane.store.getBytes(p.storage_key);
  if (!bytes) throw new RetryableStepError(`raw object ${p.storage_key} is missing`);

  const started = Date.now();
  let doc: ParsedDocument;
  let canonical: CanonicalDocument | undefined;
  try {
    const meta = { docId: p.doc_id, sha256: p.sha256, mime: p.mime_type };
    if (parser.parseCanonical) ({ document: doc, canonical } = await parser.parseCanonical(bytes, meta));
    else doc = await parser.parse(bytes, meta);
  } catch (e) {
    if (e instanceof ParseError) return failParse(services, plane, p, ctx, e.code, e.message, parser.version);
    if (ctx.attempt >= services.env.STEP_MAX_ATTEMPTS) {
      await failParse(services, plane, p, ctx, 'RETRIES_EXHAUSTED', 'Parsing kept failing for reasons outside the file; an operator can retry it.', parser.version);
    }
    throw e;
  }
  const json = canonical?.json ?? canonicalize(doc) ?? '{}';
  const outputHash = canonical?.sha256 ?? (await sha256Hex(json));
  const objectKey = parsedKey(p.tenant_id, p.doc_id, parser.version);
  await plane.store.put(objectKey, encoder.encode(json), { contentType: 'application/json' });
  const elementCounts: Record<string, number> = {};
  for (const el of doc.elements) elementCounts[el.type] = (elementCounts[el.type] ?? 0) + 1;

  try {
    await plane.db.transaction(async (tx) => {
      await claimStepRun(tx, plane.tables, key, outputHash, services.clock.now());
      await setFileStage(tx, plane.tables, p.doc_id, {
        status: 'parsed', stage: 'parse', state: 'done', at: services.clock.now(), error: null,
        metrics: { pages: doc.pages.length, elements: doc.elements.length, chars: doc.full_text.length, warnings: doc.warnings.slice(0, 50), parser_version: doc.parser_version },
      });
      await recordEvent(tx, plane.tables, {
        event_type: 'DOCUMENT_PARSED', actor: 'system', resource_type: 'document', resource_id: p.doc_id,
        details: {
          component: 'parser', parser: doc.parser, parser_version: doc.parser_version, pipeline_version: parser.version,
          input_hash: p.sha256, output_hash: outputHash, pages: doc.pages.length, elements: doc.elements.length,
          element_counts: elementCounts, chars: doc.full_text.length, warnings: doc.warnings.length,
          duration_ms: Date.now() - started, attempt: ctx.attempt, status: 'parsed',
        },
      }, services.clock);
      if (doc.warnings.length) {
        await recordEvent(tx, plane.tables, {
          event_type: 'CONTENT_DROPPED', actor: 'system', resource_type: 'document', resource_id: p.doc_id,
          details: { component: 'parser', count: doc.warnings.length, warnings: doc.warnings.slice(0, 20).map((w) => w.slice(0, 200)) },
        }, services.clock);
      }
      await enqueueStep(tx, plane.tables, services.clock, indexMessage(p, { key: objectKey, sha256: outputHash, parserVersion: parser.version }));
    });
  } catch (e) {
    if (e instanceof StepAlreadyDone) return { status: 'already_done' };
    throw e;
  }
  services.onAuditRecorded?.(p.tenant_id);
  services.onOutboxWritten?.(p.tenant_id);
  return { status: 'done' };
}

async function failParse(services: Services, plane: DataPlane, p: ParsePayload, ctx: StepContext, code: string, message: string, version: string): Promise<StepResult> {
  services.log.log('warn', 'parse failed', { tenant_id: p.tenant_id, component: 'parser', doc_id: p.doc_id, file_id: p.file_id, batch_id: p.batch_id, code, attempt: ctx.attempt, parser_version: version });
  await plane.db.transaction(async (tx) => {
    await setFileStage(tx, plane.tables, p.doc_id, {
      status: 'parse_failed', stage: 'parse', state: 'failed', at: services.clock.now(),
      error: { stage: 'parse', code, message, attempts: ctx.attempt },
    });
    // Nothing will be indexed: say so instead of leaving the stage pending.
    await setFileStage(tx, plane.tables, p.doc_id, { status: 'parse_failed', stage: 'index', state: 'skipped', at: services.clock.now() });
    await recordEvent(tx, plane.tables, {
      event_type: 'DOCUMENT_PARSE_FAILED', actor: 'system', resource_type: 'document', resource_id: p.doc_id,
      details: { component: 'parser', reason_code: code, stage: 'parse', attempt: ctx.attempt, message, input_hash: p.sha256, pipeline_version: version, status: 'parse_failed' },
    }, services.clock);
    await services.hooks?.documentFailed?.(tx, plane.tables, { tenantId: p.tenant_id, docId: p.doc_id, batchId: p.batch_id, fileId: p.file_id, stage: 'parse', code, generation: p.generation });
    await completeBatchIfDone(services, tx, plane.tables, p.batch_id);
  });
  services.onAuditRecorded?.(p.tenant_id);
  return { status: 'failed', detail: code };
}

export const parseStep: StepDefinition<ParsePayload> = { topic: 'parse', schema: ParsePayload, run: runParseStep };
