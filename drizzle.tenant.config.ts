import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./shared/db/schema/tenant.ts', './shared/index/schema.ts', './shared/webhooks/schema.ts'],
  out: './drizzle/tenant',
  schemaFilter: ['tenant_template'],
});
