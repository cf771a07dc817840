import type { AuditEntry, AuditLog } from '../../ports.js';
import { copy } from './copy.js';

/** The audit log in process, append-only. */
export class MemoryAudit implements AuditLog {
  private readonly log: AuditEntry[] = [];

  async append(entry: AuditEntry): Promise<void> {
    this.log.push(copy(entry));
  }

  async entries(): Promise<AuditEntry[]> {
    return copy(this.log);
  }
}
