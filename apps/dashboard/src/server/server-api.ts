import { createEtcdSource, createRedisSource, type LockSource } from '@lockscope/sources';
import { createApi } from './api';
import { createGate } from './auth/request-guard';
import { createReleaseApi } from './release-api';
import { runtime } from './runtime';

function build() {
  const rt = runtime();
  const getStore = () => rt.getStore();
  const gate = createGate({ settings: rt.auth, getStore });
  const openSource = (name: string): LockSource | null => {
    const config = rt.config.sources.find((s) => s.name === name);
    if (!config) return null;
    // One short conversation per release, as lockctl has: fail fast rather than retry patiently.
    return config.kind === 'etcd' ? createEtcdSource(config) : createRedisSource(config, { connectTimeoutMs: 3_000 });
  };
  return { ...createApi({ getStore, sourceDownAfterMs: rt.config.alerts.sourceDownAfter, gate }), ...createReleaseApi({ getStore, gate, openSource }) };
}

let api: ReturnType<typeof build> | null = null;

/** The handlers bound to this server's store, sources and auth settings; built on first use. */
export function serverApi(): ReturnType<typeof build> {
  api ??= build();
  return api;
}
