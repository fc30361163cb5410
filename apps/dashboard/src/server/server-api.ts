import { createApi, type Api } from './api';
import { createGate } from './auth/request-guard';
import { runtime } from './runtime';

let api: Api | null = null;

/** The handlers bound to this server's store and auth settings; built on first use. */
export function serverApi(): Api {
  if (!api) {
    const rt = runtime();
    const getStore = () => rt.getStore();
    api = createApi({ getStore, sourceDownAfterMs: rt.config.alerts.sourceDownAfter, gate: createGate({ settings: rt.auth, getStore }) });
  }
  return api;
}
