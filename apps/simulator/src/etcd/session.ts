import type { Etcd3, Lease } from 'etcd3';

/**
 * Go's concurrency.Session: one lease that every key of a worker hangs on,
 * kept alive every TTL/3. The keepalive is driven here (not by etcd3's
 * automatic loop) so a worker can freeze it the way a GC pause freezes a
 * whole process, or drop it the way a crash does.
 */
export class EtcdSession {
  readonly leaseId: string;
  readonly ttlSec: number;
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  private lostFlag = false;
  private closed = false;
  private lastKeepaliveAt: number;

  private constructor(
    private readonly lease: Lease,
    leaseId: string,
    ttlSec: number,
  ) {
    this.leaseId = leaseId;
    this.ttlSec = ttlSec;
    this.lastKeepaliveAt = performance.now();
    // etcd3 emits 'lost' when a keepalive finds the lease gone; the worker reads `lost`.
    lease.on('lost', () => {
      this.lostFlag = true;
    });
    this.schedule();
  }

  static async open(client: Etcd3, ttlSec: number): Promise<EtcdSession> {
    const lease = client.lease(ttlSec, { autoKeepAlive: false });
    try {
      const id = await lease.grant();
      return new EtcdSession(lease, id, ttlSec);
    } catch (error) {
      lease.release();
      throw error;
    }
  }

  /** The key suffix of Go's Mutex/Election: the lease id in lowercase hex, no 0x. */
  get leaseHex(): string {
    return BigInt(this.leaseId).toString(16);
  }

  get lost(): boolean {
    return this.lostFlag;
  }

  /** Milliseconds since the last successful keepalive (or the grant). */
  sinceKeepaliveMs(): number {
    return performance.now() - this.lastKeepaliveAt;
  }

  /** Stops renewing, as a stalled process would. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  /** Sends one keepalive now; false when the lease is gone (it expired while we were not renewing). */
  async keepaliveNow(): Promise<boolean> {
    if (this.closed || this.lostFlag) return false;
    try {
      await this.lease.keepaliveOnce();
      this.lastKeepaliveAt = performance.now();
      return true;
    } catch {
      this.lostFlag = true;
      return false;
    }
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const beat = this.paused || this.lostFlag ? Promise.resolve(false) : this.keepaliveNow();
      void beat.finally(() => this.schedule());
    }, Math.max(200, (this.ttlSec * 1000) / 3));
  }

  private stopTimer(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A crash: no more keepalives, no revoke; etcd deletes the keys when the TTL runs out. */
  abandon(): void {
    this.stopTimer();
    this.lease.release();
  }

  /** A clean exit: revoke the lease, which deletes every key on it at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stopTimer();
    if (this.lostFlag) {
      this.lease.release();
      return;
    }
    await this.lease.revoke({ deadline: Date.now() + 2_000 }).catch(() => undefined);
  }
}
