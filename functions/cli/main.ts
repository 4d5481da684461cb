import { Command } from 'commander';
import { ConfigError } from '../../shared/config/env';
import { AppError } from '../../shared/http/errors';
import { registerAuditCommands } from './commands/audit';
import { registerPipelineCommands } from './commands/pipeline';
import { registerTenantCommands } from './commands/tenant';
import { registerTokenCommands } from './commands/token';
import { registerVendorCommands } from './commands/vendor';

/**
 * `frostbyte` — operator and vendor command line. Operator commands open the platform's
 * database directly (the embedded data dir takes a lock, so stop the server first there);
 * vendor commands talk to a running server over HTTP. One module per command group.
 */
const program = new Command('frostbyte').description('Frostbyte document ETL: operator and vendor commands').showHelpAfterError();
registerTenantCommands(program);
registerTokenCommands(program);
registerPipelineCommands(program);
registerAuditCommands(program);
registerVendorCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) for (const p of e.problems) process.stderr.write(`frostbyte: setting ${p.key}: ${p.message}\n`);
  else if (e instanceof AppError) process.stderr.write(`frostbyte: ${e.code}: ${e.detail}\n`);
  else process.stderr.write(`frostbyte: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
