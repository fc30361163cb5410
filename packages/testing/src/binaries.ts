import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const INSTALL_HINT: Record<string, string> = {
  etcd: 'apt-get install etcd-server (Debian/Ubuntu), or put an etcd 3.4+ binary on PATH',
  etcdctl: 'apt-get install etcd-client (Debian/Ubuntu)',
  'redis-server': 'apt-get install redis-server (Debian/Ubuntu)',
  'redis-cli': 'apt-get install redis-tools (Debian/Ubuntu)',
  chromium: 'apt-get install chromium (Debian/Ubuntu)',
};

/** Absolute path of a required binary, or an error that says how to get it. */
export function requireBinary(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${name} is required by this test but is not on PATH. Install it: ${INSTALL_HINT[name] ?? name}`);
}
