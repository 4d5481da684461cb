import * as v from 'valibot';
import { AUDIT_EXPORT_TOPIC, runExport, type ExportMessage } from '../../shared/audit/service';
import type { ControlStepDefinition } from '../../shared/tenants/control-steps';

const ExportMessageSchema = v.object({
  tenant_id: v.string(),
  export_id: v.pipe(v.string(), v.regex(/^exp_[0-9a-f]{32}$/)),
  event_id: v.pipe(v.string(), v.regex(/^evt_[0-9a-f]{32}$/)),
});

/**
 * `/steps/audit-export`: writes one audit export (file + signed manifest in the tenant's bucket),
 * chains AUDIT_EXPORTED and queues the `audit.export_ready` webhook. Control-plane work: the
 * audit log lives in the control plane, and a redelivery of a finished export does nothing new.
 */
export const auditExportStep: ControlStepDefinition<ExportMessage> = {
  topic: AUDIT_EXPORT_TOPIC,
  schema: ExportMessageSchema,
  run: (services, message, ctx) => runExport(services, message, ctx),
};
