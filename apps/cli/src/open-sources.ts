import { LockscopeError, type SourceConfig } from '@lockscope/core';
import type { LockSource } from '@lockscope/sources';
import { loadSourcesBundle } from './load-backends.js';
import type { LockctlConfig } from './lockctl-config.js';

/**
 * The configured sources, optionally only the named ones. The backend client
 * libraries (etcd3 with gRPC, ioredis) load here, on first use, so `--help`
 * and config errors stay instant.
 */
export async function openSources(loaded: LockctlConfig, only?: string[]): Promise<LockSource[]> {
  const configs = selectSources(loaded, only);
  const { createEtcdSource, createRedisSource } = await loadSourcesBundle();
  // A CLI call is one short conversation: fail fast instead of the watcher's patient retries.
  return configs.map((c) => (c.kind === 'etcd' ? createEtcdSource(c) : createRedisSource(c, { connectTimeoutMs: 3_000 })));
}

export function selectSources(loaded: LockctlConfig, only?: string[]): SourceConfig[] {
  const all = loaded.config.sources;
  if (all.length === 0) {
    throw new LockscopeError(
      'BAD_CONFIG',
      loaded.path
        ? `${loaded.path} configures no sources; add etcd or Redis sources under "sources:".`
        : 'No lockscope.yaml found (looked at --config, LOCKSCOPE_CONFIG, ./lockscope.yaml and the user config directory); pass --config <file>.',
    );
  }
  if (!only || only.length === 0) return all;
  const known = new Set(all.map((s) => s.name));
  const unknown = only.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new LockscopeError('BAD_CONFIG', `Unknown source ${unknown.map((n) => `"${n}"`).join(', ')}; configured sources are ${[...known].join(', ')}.`);
  }
  return all.filter((s) => only.includes(s.name));
}

export async function stopAll(sources: LockSource[]): Promise<void> {
  await Promise.allSettled(sources.map((s) => s.stop()));
}
