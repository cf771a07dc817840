import type { SshPool } from './pool.js';
import { assertName, renderCommand } from './quote.js';

/** The maintenance step from config (`maintenance.command`, `{host}` filled in), never from chat. */
export interface MaintenanceSettings {
  command?: string;
  timeoutS: number;
}

/** Runs the configured maintenance command on a drained host over SSH. */
export async function runMaintenanceOverSsh(
  ssh: SshPool,
  host: string,
  settings: MaintenanceSettings | undefined,
): Promise<{ ok: boolean; output: string }> {
  assertName(host, 'host');
  if (!settings?.command) return { ok: true, output: 'no maintenance command configured' };
  const r = await ssh.exec(host, renderCommand(settings.command, { host }), {
    timeoutMs: settings.timeoutS * 1000,
  });
  return { ok: r.code === 0, output: (r.stdout + r.stderr).trim() };
}
