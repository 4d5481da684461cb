import { InvalidArgumentError, type Command } from 'commander';
import { rotateSigningKey } from '../../../shared/auth/keys';
import { issueToken, parseTtl, revokeToken, SCOPES, type Scope } from '../../../shared/auth/tokens';
import { out, withRuntime } from '../runtime';

const parseScopes = (value: string): Scope[] => {
  const scopes = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of scopes) if (!(SCOPES as readonly string[]).includes(s)) throw new InvalidArgumentError(`unknown scope "${s}" (use ${SCOPES.join(', ')})`);
  return scopes as Scope[];
};

export function registerTokenCommands(program: Command) {
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
        out(jwt);
      });
    });

  token
    .command('revoke <jti>')
    .description('revoke a token by its jti (the `jti` claim); it is refused from now on')
    .option('--tenant <tenant_id>')
    .option('--expires <iso>', 'when the token expires (kept on the list until then; default 30 days)')
    .action(async (jti: string, opts: { tenant?: string; expires?: string }) => {
      await withRuntime('frostbyte token revoke', async ({ services }) => {
        const expiresAt = opts.expires ? new Date(opts.expires) : new Date(services.clock.now().getTime() + 30 * 86_400_000);
        await revokeToken(services.control, services.clock, { jti, tenantId: opts.tenant ?? null, expiresAt });
        out(`revoked ${jti}`);
      });
    });

  program
    .command('keys')
    .description('signing keys')
    .command('rotate')
    .description('make a new signing key; old keys stay in the JWKS so their tokens keep working')
    .action(async () => {
      await withRuntime('frostbyte keys rotate', async ({ services }) => {
        out(`new signing key ${await rotateSigningKey(services.control, services.clock)}`);
      });
    });
}
