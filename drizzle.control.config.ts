import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./shared/db/schema/control.ts', './shared/db/schema/control-operations.ts'],
  out: './drizzle/control',
});
