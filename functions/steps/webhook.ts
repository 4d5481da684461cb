/** `/steps/webhook`: one delivery attempt of a webhook (shared/webhooks/deliver.ts). */
export { webhookStep } from '../../shared/webhooks/deliver';
