/** The schema drizzle-kit generates tenant migrations for; each tenant's schema substitutes its name. */
export const TEMPLATE_SCHEMA = 'tenant_template';
