import { indexStep } from '../../shared/pipeline/index-step';
import { parseStep } from '../../shared/pipeline/parse-step';
import type { StepDefinition } from '../../shared/queue/step';
import { webhookStep } from './webhook';
import { provisionStep } from './provision';
import { auditExportStep } from './audit-export';
import type { ControlStepDefinition } from '../../shared/tenants/control-steps';

/** Queue-triggered steps, served at `/steps/{topic}` (QStash in production, the local relay embedded). */
export const pipelineSteps = [parseStep, indexStep, webhookStep] as StepDefinition<unknown>[];

/** Control-plane steps (the control outbox): they run for tenants that are not ACTIVE yet, without a data plane. */
export const controlSteps = [provisionStep, auditExportStep] as ControlStepDefinition<unknown>[];
