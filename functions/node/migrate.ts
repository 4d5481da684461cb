import { eq } from 'drizzle-orm';
import { loadEnv } from '../../shared/config/env';
import { tenants } from '../../shared/db/schema/control';
import { wireNode } from './wire';

/** `npm run migrate`: control plane, then every live tenant's data plane. */
const runtime = await wireNode(loadEnv(process.env), { holder: 'frostbyte migrate' });
try {
  const rows = await runtime.services.control.select({ id: tenants.id }).from(tenants).where(eq(tenants.state, 'ACTIVE'));
  for (const { id } of rows) {
    await runtime.services.planes.provision(id);
    process.stdout.write(`migrated tenant ${id}\n`);
  }
  process.stdout.write(`control plane and ${rows.length} tenant(s) are up to date\n`);
} finally {
  await runtime.close();
}
