import type { Evacuation, FerryEvent } from '../src/engine/model.js';
import type { EngineStore, MigrationRecord } from '../src/engine/ports.js';

/**
 * The engine's store for the bench: MemoryStore's semantics, cheaper. MemoryStore deep-copies
 * everything in and out; a runner step loads every migration of its evacuation and commits the
 * evacuation each simulated second, and those copies were most of the bench's CPU time (a Nova
 * baseline runs for hours of simulated time). The runner never mutates what it loads or has
 * committed (each step and each migration action works on its own structuredClone), so this
 * store keeps committed values as they are and deep-freezes them instead of copying: were the
 * runner ever to change a stored value in place, the bench would stop with a TypeError (ES
 * modules are strict) rather than silently measure something a real store would not do.
 */
export class FrozenStore implements EngineStore {
  private readonly evacuations = new Map<string, Evacuation>();
  private readonly migrations = new Map<string, MigrationRecord>();
  private readonly streams = new Map<string, FerryEvent[]>();

  async commit(change: {
    evacuation?: Evacuation;
    migrations?: MigrationRecord[];
    events?: FerryEvent[];
  }): Promise<void> {
    if (change.evacuation) this.evacuations.set(change.evacuation.request.id, deepFreeze(change.evacuation));
    for (const record of change.migrations ?? [])
      this.migrations.set(record.migration.id, deepFreeze(record));
    for (const event of change.events ?? []) {
      const stream = this.streams.get(event.evacuationId) ?? [];
      stream.push(deepFreeze(event));
      this.streams.set(event.evacuationId, stream);
    }
  }

  async loadEvacuation(id: string): Promise<Evacuation | undefined> {
    return this.evacuations.get(id);
  }

  async loadMigration(id: string): Promise<MigrationRecord | undefined> {
    return this.migrations.get(id);
  }

  async events(evacuationId: string, after = 0): Promise<FerryEvent[]> {
    return (this.streams.get(evacuationId) ?? []).slice(after);
  }

  async listEvacuations(): Promise<Evacuation[]> {
    return [...this.evacuations.values()].reverse();
  }
}

/** Freezes a plain value and everything it holds; already frozen parts are skipped. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}
