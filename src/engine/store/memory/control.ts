import type { ControlChannel, ControlCommand } from '../../ports.js';

/** Operator commands in process: the latest one per evacuation. */
export class MemoryControl implements ControlChannel {
  private readonly commands = new Map<string, { command: ControlCommand; by: string }>();

  async current(evacuationId: string): Promise<{ command: ControlCommand; by: string } | undefined> {
    return this.commands.get(evacuationId);
  }

  async set(evacuationId: string, command: ControlCommand, by: string): Promise<void> {
    this.commands.set(evacuationId, { command, by });
  }
}
