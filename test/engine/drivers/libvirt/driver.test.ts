import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/engine/clock.js';
import { libvirtConfigSchema } from '../../../../src/engine/drivers/libvirt/config.js';
import { LibvirtDriver } from '../../../../src/engine/drivers/libvirt/driver.js';
import { InputError, MigrationLostError } from '../../../../src/engine/errors.js';
import { MiB, type Tuning } from '../../../../src/engine/model.js';
import { sshConfigSchema } from '../../../../src/engine/ssh/config.js';
import { SshPool } from '../../../../src/engine/ssh/pool.js';
import { type Sshd, startSshd } from '../../../support/sshd.js';

/**
 * States that real libvirt does not produce on demand, replayed by a fake `virsh` behind two real
 * sshd ("hosts" hv1 and hv2, told apart by the port in SSH_CONNECTION): recorded output of a
 * large guest that does not converge, a virsh that died without an exit status, a domain found
 * already moved with no run log. Everything else runs against real libvirt (engine.test.ts).
 */
const FAKE_VIRSH = `#!/bin/sh
dir=$(dirname "$0")
host=$dir/$(echo "$SSH_CONNECTION" | cut -d' ' -f4)
printf '%s %s\\n' "$(basename "$host")" "$*" >> "$dir/calls.log"
[ "$1" = "-c" ] && shift 2
cmd=$1; shift
answer() { if [ -f "$host/$1" ]; then cat "$host/$1"; else echo "error: failed to get domain 'web-1'" >&2; exit 1; fi; }
case "$cmd" in
  domjobinfo) if [ "$1" = "--completed" ]; then answer completed; else answer jobinfo; fi ;;
  domstate) answer domstate ;;
  migrate) if [ -f "$host/jobinfo.migrating" ]; then cp "$host/jobinfo.migrating" "$host/jobinfo"; fi ;;
  migrate-setmaxdowntime|migrate-setspeed|migrate-postcopy|domjobabort|suspend|resume|uri) ;;
  *) echo "error: unknown command $cmd" >&2; exit 1 ;;
esac
`;

const tuning: Tuning = {
  downtimeLimitMs: 50,
  autoConverge: false,
  postcopyCapable: true,
  maxBandwidthBytesPerS: 64 * MiB,
};
const request = { migrationId: 'e1:web-1', instance: 'web-1', from: 'hv1', to: 'hv2' };
const fixture = (name: string) => new URL(`fixtures/${name}`, import.meta.url);

// Each virsh call is an SSH exec (a shell start on the host): generous limits for a busy 2-core machine.
describe('libvirt driver in states real libvirt will not show on demand (recorded output)', {
  timeout: 90_000,
}, () => {
  const sshd: Record<string, Sshd> = {};
  let dir: string;
  let runDir: string;
  const drivers: LibvirtDriver[] = [];
  const calls = () => readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n').filter(Boolean);
  /**
   * What `virsh` on `host` answers (files jobinfo, completed, domstate; a missing one: no such
   * domain); `jobinfo.migrating` becomes jobinfo once `virsh migrate` ran.
   */
  const answers = (host: string, what: Record<string, string | URL | undefined>) => {
    const at = join(dir, String(sshd[host]!.port));
    rmSync(at, { recursive: true, force: true });
    mkdirSync(at);
    for (const [name, value] of Object.entries(what)) {
      if (value instanceof URL) copyFileSync(value, join(at, name));
      else if (value !== undefined) writeFileSync(join(at, name), value);
    }
  };
  const driver = () => {
    const ssh = sshConfigSchema.parse({
      privateKeyPath: sshd.hv1!.userKeyPath,
      connectTimeoutS: 30,
      hosts: ['hv1', 'hv2'].map((name) => ({
        name,
        address: '127.0.0.1',
        port: sshd[name]!.port,
        hostKey: sshd[name]!.hostKeyFingerprint,
      })),
    });
    const d = new LibvirtDriver({
      fleet: {
        hosts: [],
        instances: [
          {
            name: 'web-1',
            host: 'hv1',
            vcpus: 2,
            memoryBytes: 1024 * MiB,
            migratable: true,
            dirtyBytesPerS: 0,
          },
        ],
      },
      ssh: SshPool.fromConfig(ssh),
      config: libvirtConfigSchema.parse({ virsh: join(dir, 'virsh'), runDir }),
      clock: systemClock,
      // The migration network, not the 127.0.0.1 ferry's SSH uses.
      migrationAddress: (host) => (host === 'hv2' ? '10.0.0.2' : '10.0.0.1'),
    });
    drivers.push(d);
    return d;
  };

  beforeAll(async () => {
    sshd.hv1 = await startSshd();
    sshd.hv2 = await startSshd();
    // Both accept hv1's user key.
    writeFileSync(join(sshd.hv2.dir, 'authorized_keys'), readFileSync(`${sshd.hv1.userKeyPath}.pub`));
    dir = mkdtempSync(join(tmpdir(), 'ferry-virsh-'));
    runDir = join(dir, 'run');
    writeFileSync(join(dir, 'virsh'), FAKE_VIRSH, { mode: 0o755 });
  });
  beforeEach(() => {
    writeFileSync(join(dir, 'calls.log'), '');
    rmSync(runDir, { recursive: true, force: true });
  });
  afterAll(async () => {
    for (const d of drivers) await d.close();
    for (const s of Object.values(sshd)) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows a large guest that does not converge, started with the policy flags toward the migration address', async () => {
    answers('hv1', {
      jobinfo: 'Job type:         None        \n',
      'jobinfo.migrating': fixture('virsh_domjobinfo_openstack_nonconverging_inovex132.txt'),
      domstate: 'running\n',
    });
    answers('hv2', {});
    const d = driver();
    expect(await d.precheck(request)).toEqual({ ok: true });
    const handle = await d.start(request, tuning);
    // (calls.log names a host by its sshd's port)
    expect(calls()).toContain(
      `${sshd.hv1!.port} -c qemu:///system migrate --live --p2p --persistent --undefinesource --postcopy --bandwidth 64 web-1 qemu+ssh://10.0.0.2/system`,
    );
    const s = await d.sample(handle);
    expect(s).toMatchObject({ status: 'active', iteration: 2 });
    expect(s.dirtyBytesPerS).toBe(31340 * 4096);
    expect(s.dirtyBytesPerS).toBeGreaterThan(s.bandwidthBytesPerS);
  });

  it('reports a virsh that died without an exit status as failed, and does not start it again', async () => {
    answers('hv1', { jobinfo: 'Job type:         None        \n', domstate: 'running\n' });
    answers('hv2', {});
    mkdirSync(runDir, { recursive: true });
    // A pid above any pid_max: the wrapper was killed along with virsh.
    writeFileSync(
      join(runDir, 'web-1.migration.log'),
      'ferry-migration e1:web-1\nferry-pid 99999999\nMigration: [ 12 %]\rMigration: [ 40 %]',
    );
    const d = driver();
    const handle = await d.start(request, tuning);
    expect(await d.sample(handle)).toMatchObject({
      status: 'failed',
      error: 'virsh migrate of web-1 on hv1 ended without an exit status',
    });
    expect(calls().filter((c) => c.includes(' migrate --live'))).toEqual([]);
  });

  it('takes over a domain found already moved with no run log: completed, with the destination statistics', async () => {
    answers('hv1', {});
    answers('hv2', {
      domstate: 'running\n',
      completed: fixture('virsh11_domjobinfo_completed_incoming_netns.txt'),
    });
    const d = driver();
    const handle = await d.start(request, tuning);
    expect(await d.sample(handle)).toMatchObject({ status: 'completed', downtimeMs: 211, remainingBytes: 0 });
    expect((await d.inventory()).instances[0]!.host).toBe('hv2');
    expect(calls().filter((c) => c.includes(' migrate --live'))).toEqual([]);
  });

  it('says "no such migration" when libvirt has no job and virsh left no run log (the host rebooted)', async () => {
    answers('hv1', {
      jobinfo: 'Job type:         None        \n',
      completed: 'Job type:         None        \n',
      domstate: 'running\n',
    });
    answers('hv2', {});
    // A restarted ferry asks about the migration it had started.
    const lost = driver().sample({ ...request });
    await expect(lost).rejects.toBeInstanceOf(MigrationLostError);
    await expect(lost).rejects.toMatchObject({ code: 'MIGRATION_LOST', retryable: false });
    await expect(lost).rejects.toThrow(/libvirt on hv1 has no migration job for web-1/);
  });

  it('refuses an instance name a shell could misread, before running anything', async () => {
    await expect(driver().start({ ...request, instance: 'web-1;reboot' }, tuning)).rejects.toBeInstanceOf(
      InputError,
    );
    expect(calls()).toEqual([]);
  });
});
