import { handleProvisionMessage, ProvisionMessageSchema, type ProvisionMessage } from '../../shared/tenants/orchestrator';
import type { ControlStepDefinition } from '../../shared/tenants/control-steps';
import { PROVISION_TOPIC } from '../../shared/tenants/notify';

/**
 * `/steps/provision`: one message of a tenant's provisioning, rollback or deprovisioning run
 * (one step each), its deadline watchdog, or an owner notification.
 */
export const provisionStep: ControlStepDefinition<ProvisionMessage> = {
  topic: PROVISION_TOPIC,
  schema: ProvisionMessageSchema,
  run: (services, message, ctx) => handleProvisionMessage(services, message, ctx),
};
