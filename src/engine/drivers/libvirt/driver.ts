import type { Clock } from '../../clock.js';
import { DriverRefusedError, FerryError, NotFoundError, TimeoutError } from '../../errors.js';
import type { Fleet, ProgressSample, Tuning } from '../../model.js';
import { type MaintenanceSettings, runMaintenanceOverSsh } from '../../ssh/maintenance.js';
import type { SshPool } from '../../ssh/pool.js';
import { assertName, shellCommand } from '../../ssh/quote.js';
import { ConfiguredFleet } from '../configured-fleet.js';
import type { Driver, MigrationHandle, MigrationRequest, PrecheckResult } from '../driver.js';
import type { LibvirtConfig } from './config.js';
import { type DomJobInfo, parseDomJobInfo, sampleFromDomJobInfo } from './domjobinfo.js';

interface Active {
  handle: MigrationHandle;
  postcopy: boolean;
  paused: boolean;
  autoConverge: boolean;
  final?: ProgressSample;
}

export interface LibvirtDriverOptions {
  fleet: Fleet;
  ssh: SshPool;
  config: LibvirtConfig;
  clock: Clock;
  maintenance?: MaintenanceSettings;
}

/**
 * Live migration through libvirt: `virsh` run over SSH on the source host, peer-to-peer to the
 * destination's libvirtd. The instance name is the libvirt domain name.
 */
export class LibvirtDriver implements Driver {
  readonly kind = 'libvirt' as const;
  private readonly active = new Map<string, Active>();
  private readonly fleet: ConfiguredFleet;

  constructor(private readonly options: LibvirtDriverOptions) {
    this.fleet = new ConfiguredFleet(options.fleet);
  }

  async inventory(): Promise<Fleet> {
    return this.fleet.inventory();
  }

  async setSchedulable(host: string, enabled: boolean, reason: string): Promise<void> {
    this.fleet.setSchedulable(host, enabled, reason);
  }

  async precheck(request: MigrationRequest): Promise<PrecheckResult> {
    const reasons: string[] = [];
    try {
      this.validate(request);
      if (!this.options.ssh.hosts().includes(request.to)) reasons.push(`no SSH settings for ${request.to}`);
      const state = (await this.virsh(request.from, ['domstate', request.instance])).trim();
      if (state !== 'running')
        reasons.push(`${request.instance} is ${state || 'unknown'} on ${request.from}`);
    } catch (err) {
      reasons.push(err instanceof FerryError ? err.userMessage : String(err));
    }
    return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
  }

  async start(request: MigrationRequest, tuning: Tuning): Promise<MigrationHandle> {
    this.validate(request);
    const known = this.active.get(request.migrationId);
    if (known) return known.handle;
    const { migrationId, instance, from, to } = request;
    const handle: MigrationHandle = { migrationId, instance, from, to };
    const record: Active = { handle, postcopy: false, paused: false, autoConverge: tuning.autoConverge };
    if (isOutgoing(await this.jobInfo(from, instance))) {
      this.active.set(migrationId, record);
      return handle;
    }
    const args = ['migrate', '--live', '--p2p', '--persistent', '--undefinesource'];
    if (tuning.autoConverge) args.push('--auto-converge');
    if (tuning.postcopyCapable) args.push('--postcopy');
    if (tuning.maxBandwidthBytesPerS !== undefined)
      args.push('--bandwidth', String(Math.max(1, Math.round(tuning.maxBandwidthBytesPerS / 1024 ** 2))));
    args.push(...this.options.config.migrateFlags, instance, this.destinationUri(to));
    // virsh migrate blocks until the end: it runs detached, and domjobinfo follows it.
    const r = await this.options.ssh.exec(from, `nohup ${this.command(args)} >/dev/null 2>&1 &`);
    if (r.code !== 0)
      throw new DriverRefusedError(`cannot start virsh migrate on ${from}: ${r.stderr.trim()}`);
    this.active.set(migrationId, record);
    await this.waitForJob(handle);
    await this.virsh(from, ['migrate-setmaxdowntime', instance, String(Math.round(tuning.downtimeLimitMs))]);
    return handle;
  }

  async sample(handle: MigrationHandle): Promise<ProgressSample> {
    const active = this.activeFor(handle);
    if (active.final) return { ...active.final };
    const now = this.options.clock.now();
    const info = await this.jobInfo(handle.from, handle.instance);
    if (isOutgoing(info))
      return sampleFromDomJobInfo(info, now, { postcopy: active.postcopy, paused: active.paused });
    // The job is over: libvirt keeps its last statistics.
    const done = await this.jobInfo(handle.from, handle.instance, true);
    const sample =
      done.jobType === 'None'
        ? {
            ...sampleFromDomJobInfo(done, now),
            status: 'failed' as const,
            error: `libvirt on ${handle.from} has no migration job for ${handle.instance}`,
          }
        : sampleFromDomJobInfo(done, now);
    if (sample.status === 'completed') {
      this.fleet.moved(handle.instance, handle.to);
      // A domain suspended for the switchover arrives suspended.
      if (active.paused) await this.virsh(handle.to, ['resume', handle.instance]);
    } else if (active.paused) await this.virsh(handle.from, ['resume', handle.instance]);
    active.final = { ...sample, paused: false };
    return { ...active.final };
  }

  async tune(handle: MigrationHandle, tuning: Partial<Tuning>): Promise<void> {
    const active = this.activeFor(handle);
    if (tuning.autoConverge && !active.autoConverge)
      throw new DriverRefusedError(
        `libvirt sets auto-converge only when a migration starts (${handle.instance})`,
      );
    if (tuning.downtimeLimitMs !== undefined)
      await this.virsh(handle.from, [
        'migrate-setmaxdowntime',
        handle.instance,
        String(Math.round(tuning.downtimeLimitMs)),
      ]);
    if (tuning.maxBandwidthBytesPerS !== undefined)
      await this.virsh(handle.from, [
        'migrate-setspeed',
        handle.instance,
        String(Math.max(1, Math.round(tuning.maxBandwidthBytesPerS / 1024 ** 2))),
      ]);
  }

  async switchToPostCopy(handle: MigrationHandle): Promise<void> {
    const active = this.activeFor(handle);
    await this.virsh(handle.from, ['migrate-postcopy', handle.instance]);
    active.postcopy = true;
  }

  async pause(handle: MigrationHandle): Promise<void> {
    const active = this.activeFor(handle);
    await this.virsh(handle.from, ['suspend', handle.instance]);
    active.paused = true;
  }

  async abort(handle: MigrationHandle): Promise<void> {
    const active = this.activeFor(handle);
    if (active.final) return;
    await this.virsh(handle.from, ['domjobabort', handle.instance]);
    await this.sample(handle);
  }

  async runMaintenance(host: string): Promise<{ ok: boolean; output: string }> {
    return runMaintenanceOverSsh(this.options.ssh, host, this.options.maintenance);
  }

  async close(): Promise<void> {
    await this.options.ssh.close();
  }

  // ------------------------------------------------------------------------------------------

  private validate(request: MigrationRequest): void {
    assertName(request.instance, 'instance');
    assertName(request.from, 'host');
    assertName(request.to, 'host');
  }

  /** The record for a handle; after a restart, rebuilt (libvirt itself knows the job). */
  private activeFor(handle: MigrationHandle): Active {
    let record = this.active.get(handle.migrationId);
    if (!record) {
      record = { handle, postcopy: false, paused: false, autoConverge: false };
      this.active.set(handle.migrationId, record);
    }
    return record;
  }

  private destinationUri(host: string): string {
    return this.options.config.destinationUri.replaceAll('{host}', host);
  }

  private command(args: readonly string[]): string {
    return shellCommand([this.options.config.virsh, '-c', this.options.config.uri, ...args]);
  }

  private async virsh(host: string, args: readonly string[]): Promise<string> {
    const r = await this.options.ssh.exec(host, this.command(args), {
      timeoutMs: this.options.config.commandTimeoutS * 1000,
    });
    if (r.code !== 0) {
      const message = r.stderr.trim() || r.stdout.trim();
      if (/failed to get domain|Domain not found/i.test(message))
        throw new NotFoundError(`${host}: ${message}`);
      throw new DriverRefusedError(`virsh ${args[0]} on ${host} failed: ${message}`);
    }
    return r.stdout;
  }

  private async jobInfo(host: string, domain: string, completed = false): Promise<DomJobInfo> {
    return parseDomJobInfo(
      await this.virsh(host, completed ? ['domjobinfo', '--completed', domain] : ['domjobinfo', domain]),
    );
  }

  /** Waits for the detached `virsh migrate` to show up as a job (or to have ended already). */
  private async waitForJob(handle: MigrationHandle): Promise<void> {
    const deadline = this.options.clock.now() + this.options.config.commandTimeoutS * 1000;
    for (;;) {
      if (isOutgoing(await this.jobInfo(handle.from, handle.instance))) return;
      if ((await this.jobInfo(handle.from, handle.instance, true)).jobType !== 'None') return;
      if (this.options.clock.now() > deadline)
        throw new TimeoutError(`virsh migrate of ${handle.instance} on ${handle.from} did not start`);
      await this.options.clock.sleep(200);
    }
  }
}

function isOutgoing(info: DomJobInfo): boolean {
  return (
    (info.jobType === 'Unbounded' || info.jobType === 'Bounded') &&
    /outgoing migration/i.test(info.operation ?? '')
  );
}
