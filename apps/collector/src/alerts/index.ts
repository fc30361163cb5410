export { AlertManager, setOpenAlertsGauge, type AlertManagerOptions, type OpenAlertsGauge, type SourceHealthWithKind } from './alert-manager.js';
export { WebhookDelivery, webhookName, type DeliveryOptions } from './webhook-delivery.js';
export { buildBody, signBody, fingerprint, SIGNATURE_HEADER, type AlertNotification, type WebhookFormat } from './payloads.js';
