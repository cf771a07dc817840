import type { ControlChannel, ControlCommand, MaintenanceAnswer } from '../../ports.js';

/** Operator commands in process: the latest one per evacuation, maintenance answers and recovery requests. */
export class MemoryControl implements ControlChannel {
  private readonly commands = new Map<string, { command: ControlCommand; by: string }>();

  async current(evacuationId: string): Promise<{ command: ControlCommand; by: string } | undefined> {
    return this.commands.get(evacuationId);
  }

  async set(evacuationId: string, command: ControlCommand, by: string): Promise<void> {
    this.commands.set(evacuationId, { command, by });
  }

  private readonly answers = new Map<string, { answer: MaintenanceAnswer; by: string }>();

  async maintenanceAnswer(evacuationId: string, attempt: number) {
    return this.answers.get(`${evacuationId}#${attempt}`);
  }

  async answerMaintenance(evacuationId: string, attempt: number, answer: MaintenanceAnswer, by: string) {
    const key = `${evacuationId}#${attempt}`;
    // The first answer stands: two operators answering at once do not get a retry and a done.
    if (!this.answers.has(key)) this.answers.set(key, { answer, by });
  }

  private readonly recoveries = new Map<string, { by: string }>();

  async recoveryRequest(migrationId: string, attempt: number) {
    return this.recoveries.get(`${migrationId}#${attempt}`);
  }

  async requestRecovery(migrationId: string, attempt: number, by: string) {
    const key = `${migrationId}#${attempt}`;
    // The first request of an attempt stands: two clicks at once recover once.
    if (!this.recoveries.has(key)) this.recoveries.set(key, { by });
    return this.recoveries.get(key)!;
  }
}
