import { Command, InvalidArgumentError } from 'commander';
import { parseTtl, SCOPES, issueToken, type Scope } from '../../shared/auth/tokens';
import { rotateSigningKey } from '../../shared/auth/keys';
import { ConfigError, loadEnv } from '../../shared/config/env';
import { AppError } from '../../shared/http/errors';
import { createTenant } from '../../shared/tenants/tenants';
import { wireNode, type NodeRuntime } from '../node/wire';

/**
 * `frostbyte` — operator and vendor command line. Operator commands open the platform's
 * database directly (the embedded data dir takes a lock, so stop the server first there).
 */
const program = new Command('frostbyte').description('Frostbyte document ETL: operator and vendor commands').showHelpAfterError();

async function withRuntime<T>(holder: string, fn: (rt: NodeRuntime) => Promise<T>): Promise<T> {
  const env = loadEnv(process.env);
  const rt = await wireNode(env, { holder, log: { log: () => {} } });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

const parseScopes = (value: string): Scope[] => {
  const scopes = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of scopes) if (!(SCOPES as readonly string[]).includes(s)) throw new InvalidArgumentError(`unknown scope "${s}" (use ${SCOPES.join(', ')})`);
  return scopes as Scope[];
};

const tenant = program.command('tenant').description('manage tenants');
tenant
  .command('create <tenant_id>')
  .description('create a tenant and ready its storage (state ACTIVE)')
  .action(async (tenantId: string) => {
    await withRuntime('frostbyte tenant create', async ({ services }) => {
      const t = await createTenant(services, { tenantId, actor: 'cli' });
      process.stdout.write(`tenant ${t.id} is ${t.state} (schema ${t.storage?.schema}, bucket ${t.storage?.bucket}${t.storage?.database ? `, database ${t.storage.database}` : ''})\n`);
    });
  });

const token = program.command('token').description('API tokens');
token
  .command('issue')
  .description('mint a token; prints only the JWT on stdout')
  .option('--tenant <tenant_id>', 'tenant the token is for (not for admin tokens)')
  .requiredOption('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`, parseScopes)
  .option('--ttl <duration>', 'lifetime, e.g. 15m, 1h, 7d', '1h')
  .option('--sub <subject>', 'who the token is for', 'cli')
  .action(async (opts: { tenant?: string; scopes: Scope[]; ttl: string; sub: string }) => {
    await withRuntime('frostbyte token issue', async ({ services }) => {
      const { token: jwt } = await issueToken(services.keys, services.clock, services.tokens, {
        sub: opts.sub, tenantId: opts.tenant ?? null, scopes: opts.scopes, ttlSeconds: parseTtl(opts.ttl),
      });
      process.stdout.write(`${jwt}\n`);
    });
  });

program
  .command('keys')
  .description('signing keys')
  .command('rotate')
  .description('make a new signing key; old keys stay in the JWKS so their tokens keep working')
  .action(async () => {
    await withRuntime('frostbyte keys rotate', async ({ services }) => {
      const kid = await rotateSigningKey(services.control, services.clock);
      process.stdout.write(`new signing key ${kid}\n`);
    });
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) for (const p of e.problems) process.stderr.write(`frostbyte: setting ${p.key}: ${p.message}\n`);
  else if (e instanceof AppError) process.stderr.write(`frostbyte: ${e.code}: ${e.detail}\n`);
  else process.stderr.write(`frostbyte: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
