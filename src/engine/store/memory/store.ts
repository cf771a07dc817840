import {
  type Evacuation,
  type FerryEvent,
  FINAL_EVACUATION_STATES,
  holdsHost,
  isActiveMigration,
} from '../../model.js';
import type { CreateResult, EngineStore, MigrationRecord } from '../../ports.js';
import { copy, deepFreeze } from './copy.js';

/**
 * The store keeps what is committed frozen instead of copying it on every load: a runner step
 * loads every migration each simulated second, and copies were most of the bench's CPU. The
 * runner works on its own clones, so nothing changes a stored value; were anything to try, it
 * would fail loudly (ES modules are strict) rather than differ from a real store.
 */
export class MemoryStore implements EngineStore {
  private readonly evacuations = new Map<string, Evacuation>();
  private readonly migrations = new Map<string, MigrationRecord>();
  private readonly streams = new Map<string, FerryEvent[]>();
  /** Host -> the open evacuation holding it. */
  private readonly holders = new Map<string, string>();

  async create(evacuation: Evacuation, events: FerryEvent[]): Promise<CreateResult> {
    const { id, source } = evacuation.request;
    if (this.evacuations.has(id)) return { created: false, taken: true };
    if (holdsHost(evacuation)) {
      const holder = this.holders.get(source);
      if (holder !== undefined && holder !== id) return { created: false, holder };
      this.holders.set(source, id);
    }
    await this.commit({ evacuation, events });
    return { created: true };
  }

  async holder(host: string): Promise<string | undefined> {
    return this.holders.get(host);
  }

  async commit(change: {
    evacuation?: Evacuation;
    migrations?: MigrationRecord[];
    events?: FerryEvent[];
  }): Promise<void> {
    const { evacuation } = change;
    if (evacuation) {
      const { id, source } = evacuation.request;
      this.evacuations.set(id, deepFreeze(copy(evacuation)));
      // The evacuation has ended: its host is free, in the step that records the end.
      if (FINAL_EVACUATION_STATES.includes(evacuation.state) && this.holders.get(source) === id)
        this.holders.delete(source);
    }
    for (const record of change.migrations ?? [])
      this.migrations.set(record.migration.id, deepFreeze(copy(record)));
    for (const event of change.events ?? []) {
      const stream = this.streams.get(event.evacuationId) ?? [];
      stream.push(deepFreeze(copy(event)));
      this.streams.set(event.evacuationId, stream);
    }
  }

  async loadEvacuation(id: string): Promise<Evacuation | undefined> {
    return this.evacuations.get(id);
  }

  async loadMigration(id: string): Promise<MigrationRecord | undefined> {
    return this.migrations.get(id);
  }

  async loadMigrations(ids: readonly string[]): Promise<MigrationRecord[]> {
    return ids.flatMap((id) => this.migrations.get(id) ?? []);
  }

  async events(evacuationId: string, after = 0): Promise<FerryEvent[]> {
    return (this.streams.get(evacuationId) ?? []).slice(after);
  }

  async listEvacuations(): Promise<Evacuation[]> {
    return [...this.evacuations.values()].reverse();
  }

  async openEvacuations(): Promise<Evacuation[]> {
    return (await this.listEvacuations()).filter((e) => !FINAL_EVACUATION_STATES.includes(e.state));
  }

  async activeMigrations(): Promise<MigrationRecord[]> {
    return [...this.migrations.values()].filter((r) => isActiveMigration(r.migration.state));
  }
}
