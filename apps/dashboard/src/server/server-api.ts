import { createApi, type Api } from './api';
import { runtime } from './runtime';

let api: Api | null = null;

/** The handlers bound to this server's store; built on first use. */
export function serverApi(): Api {
  if (!api) {
    const rt = runtime();
    api = createApi({ getStore: () => rt.getStore(), sourceDownAfterMs: rt.config.alerts.sourceDownAfter });
  }
  return api;
}
