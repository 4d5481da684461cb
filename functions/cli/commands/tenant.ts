import type { Command } from 'commander';
import { createTenant } from '../../../shared/tenants/tenants';
import { out, withRuntime } from '../runtime';

export function registerTenantCommands(program: Command) {
  const tenant = program.command('tenant').description('manage tenants');
  tenant
    .command('create <tenant_id>')
    .description('create a tenant and ready its storage (state ACTIVE)')
    .action(async (tenantId: string) => {
      await withRuntime('frostbyte tenant create', async ({ services }) => {
        const t = await createTenant(services, { tenantId, actor: 'cli' });
        out(`tenant ${t.id} is ${t.state} (schema ${t.storage?.schema}, bucket ${t.storage?.bucket}${t.storage?.database ? `, database ${t.storage.database}` : ''})`);
      });
    });
  return tenant;
}
