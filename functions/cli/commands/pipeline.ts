import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { runLocalParse } from '../../../shared/node/parse-pool';
import { listDeadLetters, retryFile } from '../../../shared/pipeline/retry';
import { err, out, withRuntime } from '../runtime';

export function registerPipelineCommands(program: Command) {
  program
    .command('parse <path>')
    .description('run the production parser on a local file; prints a summary or the reason code the pipeline would record')
    .action(async (path: string) => {
      const outcome = await runLocalParse(new Uint8Array(readFileSync(path)), basename(path));
      if (outcome.ok) {
        out(outcome.summary);
      } else {
        err(`${outcome.code}: ${outcome.message}${outcome.retryable ? ' (the pipeline would retry this)' : ''}`);
        process.exitCode = 2;
      }
    });

  program
    .command('retry')
    .description('retry a failed or stuck file from the stage it failed in')
    .requiredOption('--tenant <tenant_id>')
    .requiredOption('--file <file_id>')
    .option('--batch <batch_id>', 'needed when the file_id appears in several batches')
    .action(async (opts: { tenant: string; file: string; batch?: string }) => {
      await withRuntime('frostbyte retry', async ({ services }) => {
        const r = await retryFile(services, await services.planes.forTenant(opts.tenant), { fileId: opts.file, batchId: opts.batch });
        out(`queued ${r.file_id} (${r.doc_id}, batch ${r.batch_id}) from the ${r.resumed_from} stage; the running server picks it up`);
      });
    });

  program
    .command('dead-letters')
    .description('list step messages whose retries ran out')
    .option('--tenant <tenant_id>')
    .option('--all', 'include ones already retried')
    .action(async (opts: { tenant?: string; all?: boolean }) => {
      await withRuntime('frostbyte dead-letters', async ({ services }) => {
        const rows = await listDeadLetters(services, { tenantId: opts.tenant, includeRetried: opts.all });
        if (!rows.length) return out('no dead letters');
        for (const r of rows) out(`${r.created_at}  ${r.tenant_id}  ${r.topic}  ${r.file_id ?? '-'}  attempts=${r.attempts}  ${r.retried_at ? 'retried' : ''}  ${r.error}`);
      });
    });
}
