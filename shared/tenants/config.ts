import { eq } from 'drizzle-orm';
import * as v from 'valibot';
import { appendEvents } from '../audit/append';
import type { Env } from '../config/env';
import { tenants, type TenantConfig } from '../db/schema/control';
import { AppError, type FieldProblem } from '../http/errors';
import { SUPPORTED_MIME_TYPES } from '../parse/detect-format';
import type { Services } from '../services';

/**
 * Per-tenant settings (DESIGN §7): each can only narrow what the platform allows. `null` in a
 * patch removes the key, so the platform's value applies again.
 */
const count = (max: number) => v.nullable(v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1, 'must be at least 1'), v.maxValue(max, `must be at most ${max}`)));
export const TenantConfigPatchSchema = v.strictObject({
  mime_allowlist: v.optional(v.nullable(v.pipe(v.array(v.pipe(v.string(), v.toLowerCase(), v.trim())), v.minLength(1, 'must name at least one type; use null for the platform default')))),
  max_file_size_mb: v.optional(count(1_048_576)),
  max_files_per_batch: v.optional(count(1_000_000)),
  batch_rate_limit_per_minute: v.optional(count(100_000)),
  retention_days: v.optional(count(36_500)),
});
export type TenantConfigPatch = v.InferOutput<typeof TenantConfigPatchSchema>;

const KEYS = ['mime_allowlist', 'max_file_size_mb', 'max_files_per_batch', 'batch_rate_limit_per_minute', 'retention_days'] as const;

/** Parses a patch (JSON body or CLI `key=value` pairs turned into JSON) with field-level problems. */
export function parseConfigPatch(input: unknown, env: Env): TenantConfigPatch {
  const parsed = v.safeParse(TenantConfigPatchSchema, input);
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', 'Invalid tenant configuration.', {
      errors: parsed.issues.map((i) => ({ field: v.getDotPath(i) ?? 'config', message: i.message })),
    });
  }
  const patch = parsed.output;
  const problems: FieldProblem[] = [];
  if (patch.mime_allowlist) {
    const unsupported = patch.mime_allowlist.filter((m) => !SUPPORTED_MIME_TYPES.includes(m));
    if (unsupported.length) {
      problems.push({ field: 'mime_allowlist', message: `the platform does not support ${unsupported.join(', ')}; a tenant can only narrow ${SUPPORTED_MIME_TYPES.join(', ')}` });
    }
    patch.mime_allowlist = [...new Set(patch.mime_allowlist)];
  }
  if (patch.max_file_size_mb && patch.max_file_size_mb > env.MAX_FILE_SIZE_MB) {
    problems.push({ field: 'max_file_size_mb', message: `must be at most the platform's MAX_FILE_SIZE_MB (${env.MAX_FILE_SIZE_MB})` });
  }
  if (patch.max_files_per_batch && patch.max_files_per_batch > env.MAX_FILES_PER_BATCH) {
    problems.push({ field: 'max_files_per_batch', message: `must be at most the platform's MAX_FILES_PER_BATCH (${env.MAX_FILES_PER_BATCH})` });
  }
  if (problems.length) throw new AppError('VALIDATION_FAILED', 'Invalid tenant configuration.', { errors: problems });
  return patch;
}

/** A full config for a new tenant: the patch without its nulls. */
export function configFromPatch(patch: TenantConfigPatch): TenantConfig {
  return applyPatch({}, patch);
}

function applyPatch(current: TenantConfig, patch: TenantConfigPatch): TenantConfig {
  const next: Record<string, unknown> = { ...current };
  for (const key of KEYS) {
    const value = patch[key];
    if (value === undefined) continue;
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next as TenantConfig;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Applies a patch; on a change bumps `config_version` and appends TENANT_CONFIG_UPDATED with
 * what changed, in the same transaction. Intake reads the config on every request, so the new
 * limits apply from the next one.
 */
export async function updateTenantConfig(
  services: Services,
  tenantId: string,
  input: unknown,
  actor: string,
): Promise<{ tenant_id: string; config: TenantConfig; config_version: number; changed: string[] }> {
  const patch = parseConfigPatch(input, services.env);
  return services.control.transaction(async (tx) => {
    const rows = await tx.select().from(tenants).where(eq(tenants.id, tenantId)).for('update').limit(1);
    const tenant = rows[0];
    if (!tenant || tenant.state === 'DEPROVISIONED' || tenant.state === 'DEPROVISIONING') throw new AppError('NOT_FOUND', `Tenant ${tenantId} was not found.`);
    const before = tenant.config ?? {};
    const after = applyPatch(before, patch);
    const changed = KEYS.filter((k) => !same(before[k], after[k]));
    if (!changed.length) return { tenant_id: tenantId, config: before, config_version: tenant.configVersion, changed };
    const version = tenant.configVersion + 1;
    await tx.update(tenants).set({ config: after, configVersion: version, updatedAt: services.clock.now() }).where(eq(tenants.id, tenantId));
    await appendEvents(tx, tenantId, [
      {
        event_type: 'TENANT_CONFIG_UPDATED',
        actor,
        resource_type: 'tenant',
        resource_id: tenantId,
        details: {
          component: 'tenants',
          config_version: version,
          changes: Object.fromEntries(changed.map((k) => [k, { from: before[k] ?? null, to: after[k] ?? null }])),
        },
      },
    ], services.clock);
    return { tenant_id: tenantId, config: after, config_version: version, changed };
  });
}
