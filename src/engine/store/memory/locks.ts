import type { HostLocks } from '../../ports.js';

/** One evacuation per host, in process. */
export class MemoryLocks implements HostLocks {
  private readonly holders = new Map<string, string>();

  async acquire(host: string, evacuationId: string): Promise<string | undefined> {
    const holder = this.holders.get(host);
    if (holder && holder !== evacuationId) return holder;
    this.holders.set(host, evacuationId);
    return undefined;
  }

  async release(host: string, evacuationId: string): Promise<void> {
    if (this.holders.get(host) === evacuationId) this.holders.delete(host);
  }
}
