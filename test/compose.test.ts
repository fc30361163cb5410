import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '@lockscope/core';

const root = resolve(import.meta.dirname, '..');

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: unknown;
}

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;

/** Compose turns $$ into a literal $. */
const unescape = (s: string) => s.replaceAll('$$', '$');

describe('docker-compose.yml', () => {
  it('has the backends, the store, the collector and the dashboard', () => {
    expect(Object.keys(services).sort()).toEqual(['collector', 'dashboard', 'etcd', 'postgres', 'redis']);
  });

  it('pins every third-party image to a version', () => {
    for (const name of ['etcd', 'redis', 'postgres']) {
      const image = services[name]!.image!;
      expect(image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(image, name).not.toMatch(/:latest$/);
    }
    expect(services.etcd!.image).toMatch(/etcd:v3\.\d+\.\d+$/);
    for (const name of ['collector', 'dashboard']) expect(services[name]!.build).toBe('.');
    expect(existsSync(join(root, 'Dockerfile'))).toBe(true);
  });

  it('publishes ports on loopback only, with the documented numbers', () => {
    const published: Record<string, string[]> = {};
    for (const [name, svc] of Object.entries(services)) {
      for (const port of svc.ports ?? []) {
        expect(port, `${name} publishes ${port}`).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
        (published[name] ??= []).push(port);
      }
    }
    expect(published).toEqual({
      etcd: ['127.0.0.1:2379:2379'],
      redis: ['127.0.0.1:6379:6379'],
      postgres: ['127.0.0.1:5432:5432'],
      collector: ['127.0.0.1:9464:9464'],
      dashboard: ['127.0.0.1:3000:3000'],
    });
  });

  it('starts Redis with the keyspace notifications the collector needs', () => {
    const command = services.redis!.command!;
    const flags = unescape(command[command.indexOf('--notify-keyspace-events') + 1]!);
    for (const flag of ['K', 'g', '$', 'h', 'x', 'e', 'l', 'z']) expect(flags, `flag ${flag}`).toContain(flag);
    expect(flags, 'no keyevent channel (E): the collector never reads it').not.toContain('E');
  });

  it('runs the real collector binary with a mounted config that parses and points at the compose services', () => {
    const svc = services.collector!;
    const command = svc.command!;
    expect(existsSync(join(root, command[1]!))).toBe(true);
    const configPath = command[command.indexOf('--config') + 1]!;
    const mount = svc.volumes!.map((v) => v.split(':')).find(([, target]) => target === configPath);
    expect(mount, 'the config path is mounted').toBeDefined();
    const hostFile = join(root, mount![0]!);
    const config = parseConfig(readFileSync(hostFile, 'utf8'), hostFile, { DATABASE_URL: svc.environment?.DATABASE_URL });
    const etcd = config.sources.find((s) => s.kind === 'etcd');
    const redis = config.sources.find((s) => s.kind === 'redis');
    expect(etcd && etcd.kind === 'etcd' && etcd.endpoints).toEqual(['http://etcd:2379']);
    expect(redis && redis.kind === 'redis' && redis.url).toBe('redis://redis:6379/0');
    const pg = services.postgres!.environment!;
    expect(config.store.url).toBe(`postgresql://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`);
    expect(command).toContain('--listen');
    expect(command[command.indexOf('--listen') + 1]).toBe('0.0.0.0:9464');
    expect(Object.keys(svc.depends_on!).sort()).toEqual(['etcd', 'postgres', 'redis']);
  });

  it('runs the dashboard workspace start script against the same database', () => {
    const svc = services.dashboard!;
    const command = svc.command!;
    const workspace = command[command.indexOf('-w') + 1]!;
    expect(workspace).toBe('@lockscope/dashboard');
    const pkg = JSON.parse(readFileSync(join(root, 'apps/dashboard/package.json'), 'utf8')) as { name: string; scripts: Record<string, string> };
    expect(pkg.name).toBe(workspace);
    expect(pkg.scripts.start).toBeDefined();
    expect(svc.environment!.DATABASE_URL).toBe(services.collector!.environment!.DATABASE_URL);
    // It binds 0.0.0.0 inside the container, which the start script refuses without auth unless told the port is loopback-only.
    expect(svc.environment!.LOCKSCOPE_DASHBOARD_PUBLISHED_ON_LOOPBACK).toBe('1');
    expect(svc.ports).toEqual(['127.0.0.1:3000:3000']);
  });

  it('declares every named volume it uses', () => {
    for (const svc of Object.values(services)) {
      for (const v of svc.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/')) expect(compose.volumes).toHaveProperty(source);
      }
    }
  });
});
