import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';

export type SpillKind = 'batch' | 'alerts';

/**
 * What the store could not take, kept on local disk: the rows of a buffer that grew past
 * its cap while the store was down, and whatever was left unwritten at a stop. Files are
 * written whole (temporary name, fsync, rename) and named so that a plain sort is their
 * order; the collector writes them to the store before anything newer, then deletes them.
 *
 * Serialised with node:v8 (structured clone): batches carry Buffers (sketches) and
 * bigints, which JSON would need a codec for, and the reader is always this program.
 */
export class SpillDir {
  private seq = 0;

  constructor(readonly dir: string) {}

  /** Writes one payload; throws (disk full, read-only) with the file system's reason. */
  write(kind: SpillKind, payload: unknown): string {
    mkdirSync(this.dir, { recursive: true });
    const name = `${kind}-${Date.now().toString().padStart(15, '0')}-${process.pid}-${String(this.seq++).padStart(6, '0')}.v8`;
    const path = join(this.dir, name);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      const bytes = serialize(payload);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw error;
    }
    closeSync(fd);
    renameSync(tmp, path);
    return path;
  }

  /** Spilled files of one kind, oldest first (half-written temporaries are not listed). */
  list(kind: SpillKind): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names
      .filter((n) => n.startsWith(`${kind}-`) && n.endsWith('.v8'))
      .sort()
      .map((n) => join(this.dir, n));
  }

  read(path: string): unknown {
    return deserialize(readFileSync(path));
  }

  remove(path: string): void {
    rmSync(path, { force: true });
  }
}
