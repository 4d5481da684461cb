import { indexStep } from '../../shared/pipeline/index-step';
import { parseStep } from '../../shared/pipeline/parse-step';
import type { StepDefinition } from '../../shared/queue/step';

/** Queue-triggered steps, served at `/steps/{topic}` (QStash in production, the local relay embedded). */
export const pipelineSteps = [parseStep, indexStep] as StepDefinition<unknown>[];
