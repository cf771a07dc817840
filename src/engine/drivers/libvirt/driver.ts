import type { Clock } from '../../clock.js';
import {
  DriverRefusedError,
  FerryError,
  MigrationLostError,
  NotFoundError,
  TimeoutError,
} from '../../errors.js';
import type { Fleet, ProgressSample, Tuning } from '../../model.js';
import { type MaintenanceSettings, runMaintenanceOverSsh } from '../../ssh/maintenance.js';
import type { SshPool } from '../../ssh/pool.js';
import { assertName, shellCommand } from '../../ssh/quote.js';
import { ConfiguredFleet } from '../configured-fleet.js';
import type { Driver, MigrationHandle, MigrationRequest, PrecheckResult } from '../driver.js';
import type { LibvirtConfig } from './config.js';
import { type DomJobInfo, parseDomJobInfo, sampleFromDomJobInfo } from './domjobinfo.js';
import { detachedRun, parseRunLog, type RunLog, runLogPath } from './run-log.js';

interface Active {
  handle: MigrationHandle;
  postcopy: boolean;
  paused: boolean;
  /** Started with auto-converge on (libvirt cannot turn it on later). */
  armed: boolean;
  /** ferry asked libvirt to cancel it: a failure that follows is the cancel. */
  aborting: boolean;
  /** The last sample of the running job (post-copy leaves no completed statistics anywhere). */
  last?: ProgressSample;
  final?: ProgressSample;
}

export interface LibvirtDriverOptions {
  fleet: Fleet;
  ssh: SshPool;
  config: LibvirtConfig;
  clock: Clock;
  /** The address the other hosts reach `host` at (its migration address), for `{address}`. */
  migrationAddress?: (host: string) => string;
  maintenance?: MaintenanceSettings;
}

/** Where a domain is, as libvirt on the source and destination see it. */
type Whereabouts =
  | { kind: 'migrating'; info: DomJobInfo }
  | { kind: 'idle' }
  /** Not on the source: moved, if the destination has it. */
  | { kind: 'gone' };

/**
 * Live migration through libvirt: `virsh migrate --live --p2p` run detached over SSH on the
 * source host (its libvirtd talks to the destination's libvirtd itself), followed with
 * `domjobinfo`. The instance name is the libvirt domain name. How it ended comes from the run
 * log virsh leaves on the source (see run-log.ts) and the statistics from the destination, which
 * holds the domain once `--undefinesource` has removed it from the source.
 */
export class LibvirtDriver implements Driver {
  readonly kind = 'libvirt' as const;
  /**
   * No `recoverPostcopy`: libvirt's own recovery, `--postcopy-resume`, crashed the destination's
   * libvirtd 11.3.0 (Debian bookworm-backports) every time ferry's tests tried it (a segfault in
   * qemuProcessIncomingDefNew under virDomainMigratePrepare3Params, p2p or not, with or without
   * --migrateuri), so ferry does not run it; the notice says what is known instead.
   */
  readonly postcopyRecovery =
    'libvirt marks the post-copy failed about 30 s after its link drops (`virsh domstate --reason`: "paused (post-copy failed)" on the source, "running (post-copy failed)" on the destination once the link is back). Restore the migration network and keep the source host up: it holds the pages the guest still needs. libvirt\'s resume (`virsh migrate --live --p2p --persistent --undefinesource --postcopy --postcopy-resume DOMAIN DEST_URI` on the source, once both hosts say post-copy failed) crashed the destination libvirtd 11.3.0 in ferry\'s tests: use it only on a libvirt known to recover';
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
    const { instance, from, to } = request;
    try {
      this.validate(request);
      if (!this.options.ssh.hosts().includes(to))
        return { ok: false, reasons: [`no SSH settings for ${to}`] };
      // Already started (a runner replaced between `start` and recording it): `start` takes it
      // over, even if it has ended meanwhile and the domain has left the source.
      if ((await this.runLog(from, instance))?.migrationId === request.migrationId) return { ok: true };
      const where = await this.whereabouts(from, instance);
      if (where.kind === 'migrating') return { ok: true };
      if (where.kind === 'gone') return { ok: false, reasons: [`${instance} is not defined on ${from}`] };
      const state = await this.domainState(from, instance);
      if (state !== 'running' && state !== 'paused') reasons.push(`${instance} is ${state} on ${from}`);
      const there = await this.domainState(to, instance);
      if (there !== undefined) reasons.push(`${instance} already exists on ${to} (${there})`);
      // The source's libvirtd must reach the destination's: the same path the migration takes.
      const reach = await this.reachable(from, to);
      if (reach) reasons.push(reach);
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
    const armed = tuning.autoConverge || (this.options.config.armAutoConverge ?? false);
    const record: Active = { handle, postcopy: false, paused: false, armed, aborting: false };
    // Started before (by this id), or running (by domain: someone's migration of it is under
    // way), or already moved: follow it rather than start another.
    const log = await this.runLog(from, instance);
    const where = await this.whereabouts(from, instance);
    if (log?.migrationId === migrationId || where.kind !== 'idle') {
      if (
        where.kind === 'gone' &&
        log?.migrationId !== migrationId &&
        !(await this.domainState(to, instance))
      )
        throw new NotFoundError(`${instance} is neither on ${from} nor on ${to}`);
      this.active.set(migrationId, record);
      return handle;
    }
    const args = ['migrate', '--live', '--p2p', '--persistent', '--undefinesource'];
    if (armed)
      args.push(
        '--auto-converge',
        '--auto-converge-initial',
        String(this.options.config.cpuThrottleInitial),
        '--auto-converge-increment',
        String(this.options.config.cpuThrottleIncrement),
      );
    if (tuning.postcopyCapable) args.push('--postcopy');
    // Multifd: libvirt sets QEMU's capability and channels on both sides itself.
    const channels = tuning.multifdChannels ?? 1;
    if (channels > 1) args.push('--parallel', '--parallel-connections', String(channels));
    if (tuning.maxBandwidthBytesPerS !== undefined)
      args.push('--bandwidth', mibPerS(tuning.maxBandwidthBytesPerS));
    args.push(...this.options.config.migrateFlags, instance, this.destinationUri(to));
    const { runDir } = this.options.config;
    const r = await this.options.ssh.exec(
      from,
      detachedRun(this.virshArgv(args), runLogPath(runDir, instance), runDir, migrationId),
    );
    if (r.code !== 0)
      throw new DriverRefusedError(
        `cannot start virsh migrate on ${from}: ${r.stderr.trim() || r.stdout.trim()}`,
      );
    this.active.set(migrationId, record);
    if (await this.waitForJob(handle))
      await this.virsh(from, [
        'migrate-setmaxdowntime',
        instance,
        String(Math.round(tuning.downtimeLimitMs)),
      ]).catch(async (err: unknown) => {
        // A short migration may be over already; one still running must get its limit.
        if ((await this.whereabouts(from, instance)).kind === 'migrating') throw err;
      });
    return handle;
  }

  async sample(handle: MigrationHandle): Promise<ProgressSample> {
    const active = this.activeFor(handle);
    if (active.final) return { ...active.final };
    const now = this.options.clock.now();
    const where = await this.whereabouts(handle.from, handle.instance);
    if (where.kind === 'migrating') {
      // Post-copy shows as page requests from the destination (also after a restart of ferry).
      if ((where.info.postcopyRequests ?? 0) > 0) active.postcopy = true;
      active.last = sampleFromDomJobInfo(where.info, now, {
        postcopy: active.postcopy,
        paused: active.paused,
      });
      return { ...active.last };
    }
    const log = await this.runLog(handle.from, handle.instance);
    const ours = log?.migrationId === handle.migrationId ? log : undefined;
    // The job is over but virsh has not returned yet (it is confirming with the destination).
    if (ours && ours.exitCode === undefined && (await this.running(handle.from, ours)))
      return { ...(active.last ?? this.waiting(now)), at: now };
    const moved =
      ours?.exitCode !== undefined
        ? ours.exitCode === 0
        : where.kind === 'gone' && (await this.domainState(handle.to, handle.instance)) !== undefined;
    const sample = moved ? await this.completed(active, now) : await this.ended(active, ours, now);
    active.final = { ...sample, paused: false };
    return { ...active.final };
  }

  async tune(handle: MigrationHandle, tuning: Partial<Tuning>): Promise<void> {
    const active = this.activeFor(handle);
    if (tuning.autoConverge && !active.armed)
      throw new DriverRefusedError(
        `libvirt turns auto-converge on only when a migration starts; ${handle.instance}'s started without it (libvirt.armAutoConverge is off)`,
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
        mibPerS(tuning.maxBandwidthBytesPerS),
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
    active.aborting = true;
    try {
      await this.virsh(handle.from, ['domjobabort', handle.instance]);
    } catch (err) {
      // It ended by itself meanwhile: the next sample says how. Anything else (post-copy cannot
      // be cancelled) is the caller's to know.
      if ((await this.whereabouts(handle.from, handle.instance)).kind === 'migrating') throw err;
    }
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

  /** The record for a handle; after a restart, rebuilt (libvirt and the run log know the rest). */
  private activeFor(handle: MigrationHandle): Active {
    let record = this.active.get(handle.migrationId);
    if (!record) {
      const armed = this.options.config.armAutoConverge ?? false;
      record = { handle, postcopy: false, paused: false, armed, aborting: false };
      this.active.set(handle.migrationId, record);
    }
    return record;
  }

  private destinationUri(host: string): string {
    const address = this.options.migrationAddress?.(host) ?? host;
    return this.options.config.destinationUri.replaceAll('{host}', host).replaceAll('{address}', address);
  }

  private virshArgv(args: readonly string[]): string[] {
    return [this.options.config.virsh, '-c', this.options.config.uri, ...args];
  }

  private async virsh(host: string, args: readonly string[]): Promise<string> {
    const r = await this.options.ssh.exec(host, shellCommand(this.virshArgv(args)), {
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

  private async whereabouts(host: string, domain: string): Promise<Whereabouts> {
    try {
      const info = await this.jobInfo(host, domain);
      return isOutgoing(info) ? { kind: 'migrating', info } : { kind: 'idle' };
    } catch (err) {
      if (err instanceof NotFoundError) return { kind: 'gone' };
      // Between the end of a migration and --undefinesource the source copy is shut off.
      if (err instanceof DriverRefusedError && /domain is not running/i.test(err.userMessage))
        return { kind: 'idle' };
      throw err;
    }
  }

  /** `running`, `paused`, `shut off`, ... or undefined when the host has no such domain. */
  private async domainState(host: string, domain: string): Promise<string | undefined> {
    try {
      return (await this.virsh(host, ['domstate', domain])).trim() || 'unknown';
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  private async runLog(host: string, instance: string): Promise<RunLog | undefined> {
    const path = runLogPath(this.options.config.runDir, instance);
    const r = await this.options.ssh.exec(host, `cat ${shellCommand([path])} 2>/dev/null || true`, {
      timeoutMs: this.options.config.commandTimeoutS * 1000,
    });
    return parseRunLog(r.stdout);
  }

  /** Whether the run's wrapper (and so virsh) still runs on the host. */
  private async running(host: string, log: RunLog): Promise<boolean> {
    if (log.pid === undefined) return true; // written in the same breath as the header
    const r = await this.options.ssh.exec(host, `kill -0 ${log.pid} 2>/dev/null && echo alive || true`);
    return r.stdout.trim() === 'alive';
  }

  /**
   * Why the source cannot reach the destination's libvirtd, or undefined when it can. Run on
   * the source, through the same URI (and so the same SSH keys and known_hosts) as a migration;
   * the precheck's, and `ferry check`'s.
   */
  async reachable(from: string, to: string): Promise<string | undefined> {
    const uri = this.destinationUri(to);
    const limitS = this.options.config.commandTimeoutS;
    const probe = shellCommand([
      'timeout',
      String(Math.max(1, Math.round(limitS - 1))),
      this.options.config.virsh,
      '-c',
      uri,
      'uri',
    ]);
    const r = await this.options.ssh.exec(from, probe, { timeoutMs: limitS * 1000 });
    if (r.code === 0) return undefined;
    const why = (r.stderr.trim() || r.stdout.trim() || (r.code === 124 ? 'no answer' : `exit ${r.code}`))
      .replace(/^error: /gm, '')
      .replace(/\s*\n\s*/g, '; ');
    return `${from} cannot reach the libvirtd of ${to} at ${uri}: ${why}`;
  }

  private waiting(now: number): ProgressSample {
    return {
      at: now,
      status: 'setup',
      totalBytes: 0,
      transferredBytes: 0,
      remainingBytes: 0,
      dirtyBytesPerS: 0,
      bandwidthBytesPerS: 0,
      iteration: 0,
    };
  }

  /** The domain runs on the destination: its statistics come from there (the source has none left). */
  private async completed(active: Active, now: number): Promise<ProgressSample> {
    const { instance, to } = active.handle;
    const info = await this.jobInfo(to, instance, true);
    // Post-copy leaves no completed statistics on either side: the last sample is what is known.
    const sample =
      info.jobType === 'Completed'
        ? sampleFromDomJobInfo(info, now)
        : { ...(active.last ?? this.waiting(now)), at: now, status: 'completed' as const, remainingBytes: 0 };
    this.fleet.moved(instance, to);
    // libvirt resumes a live-migrated domain on arrival; one that is still paused is resumed.
    if ((await this.domainState(to, instance)) === 'paused') await this.virsh(to, ['resume', instance]);
    return sample;
  }

  /** The migration ended without moving the domain: why, in libvirt's words and ferry's. */
  private async ended(active: Active, log: RunLog | undefined, now: number): Promise<ProgressSample> {
    const { instance, from, to } = active.handle;
    const base = { ...(active.last ?? this.waiting(now)), at: now };
    if (active.paused && (await this.domainState(from, instance)) === 'paused')
      await this.virsh(from, ['resume', instance]);
    if (active.aborting) return { ...base, status: 'cancelled', remainingBytes: base.remainingBytes };
    // No job and no run log of this migration (libvirtd restarted, the host rebooted): libvirt
    // knows nothing of it, and asking again will not change that.
    if (!log)
      throw new MigrationLostError(
        `libvirt on ${from} has no migration job for ${instance}, and virsh left no run log`,
      );
    let error: string;
    if (log.exitCode === undefined)
      error = `virsh migrate of ${instance} on ${from} ended without an exit status`;
    else {
      error = `virsh migrate on ${from} failed: ${log.errors.join('; ') || `exit ${log.exitCode}`}`;
      // libvirt's own words for a lost destination are vague ("client socket is closed"): say
      // whether the source can reach the destination now.
      const reach = await this.reachable(from, to).catch(() => undefined);
      if (reach) error += `; ${reach}`;
    }
    return { ...base, status: 'failed', error };
  }

  /** Waits for the detached `virsh migrate` to show up as a job; false if it has ended already. */
  private async waitForJob(handle: MigrationHandle): Promise<boolean> {
    const deadline = this.options.clock.now() + this.options.config.commandTimeoutS * 1000;
    for (;;) {
      if ((await this.whereabouts(handle.from, handle.instance)).kind === 'migrating') return true;
      if ((await this.runLog(handle.from, handle.instance))?.exitCode !== undefined) return false;
      if (this.options.clock.now() > deadline)
        throw new TimeoutError(`virsh migrate of ${handle.instance} on ${handle.from} did not start`);
      await this.options.clock.sleep(200);
    }
  }
}

/** virsh takes bandwidth in whole MiB/s (at least 1). */
function mibPerS(bytesPerS: number): string {
  return String(Math.max(1, Math.round(bytesPerS / 1024 ** 2)));
}

function isOutgoing(info: DomJobInfo): boolean {
  return (
    (info.jobType === 'Unbounded' || info.jobType === 'Bounded') &&
    /outgoing migration/i.test(info.operation ?? '')
  );
}
