import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/engine/clock.js';
import { libvirtConfigSchema } from '../../../../src/engine/drivers/libvirt/config.js';
import { LibvirtDriver } from '../../../../src/engine/drivers/libvirt/driver.js';
import { InputError } from '../../../../src/engine/errors.js';
import { MiB, type Tuning } from '../../../../src/engine/model.js';
import { sshConfigSchema } from '../../../../src/engine/ssh/config.js';
import { SshPool } from '../../../../src/engine/ssh/pool.js';
import { type Sshd, startSshd } from '../../../support/sshd.js';

/**
 * libvirt refuses a same-host migration, so these tests run the driver through a real sshd
 * against a fake `virsh` that records its arguments and answers with recorded output.
 */
const FAKE_VIRSH = `#!/bin/sh
dir=$(dirname "$0")
printf '%s\\n' "$*" >> "$dir/calls.log"
[ "$1" = "-c" ] && shift 2
cmd=$1; shift
state=$(cat "$dir/state" 2>/dev/null || echo none)
case "$cmd" in
  migrate) echo active > "$dir/state" ;;
  domjobinfo)
    if [ "$1" = "--completed" ]; then
      case "$state" in
        completed) printf 'Job type:         Completed\\nOperation:        Outgoing migration\\nMemory processed: 1.020 GiB\\nMemory remaining: 0.000 B\\nMemory total:     1.000 GiB\\nTotal downtime:   41           ms\\n' ;;
        cancelled) printf 'Job type:         Cancelled\\nOperation:        Outgoing migration\\n' ;;
        *) printf 'Job type:         None\\n' ;;
      esac
    elif [ "$state" = active ]; then grep -v '^[#$]' "$dir/active.txt"
    else printf 'Job type:         None\\n'; fi ;;
  domjobabort) echo cancelled > "$dir/state" ;;
  domstate) echo running ;;
  migrate-setmaxdowntime|migrate-setspeed|migrate-postcopy|suspend|resume) ;;
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

// Each virsh call is an SSH exec (a shell start on the host): generous limits for a busy 2-core machine.
describe('libvirt driver through real sshd and a recording virsh', { timeout: 90_000 }, () => {
  let sshd: Sshd;
  let dir: string;
  const drivers: LibvirtDriver[] = [];
  const calls = () => readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n');
  const driver = () => {
    const ssh = sshConfigSchema.parse({
      privateKeyPath: sshd.userKeyPath,
      connectTimeoutS: 30, // an SSH handshake may wait seconds for a CPU on a loaded machine
      hosts: ['hv1', 'hv2'].map((name) => ({
        name,
        address: '127.0.0.1',
        port: sshd.port,
        hostKey: sshd.hostKeyFingerprint,
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
      config: libvirtConfigSchema.parse({ virsh: join(dir, 'virsh') }),
      clock: systemClock,
    });
    drivers.push(d);
    return d;
  };

  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'ferry-virsh-'));
    writeFileSync(join(dir, 'virsh'), FAKE_VIRSH, { mode: 0o755 });
    copyFileSync(
      new URL('fixtures/virsh_domjobinfo_openstack_nonconverging_inovex132.txt', import.meta.url),
      join(dir, 'active.txt'),
    );
  });
  beforeEach(() => {
    writeFileSync(join(dir, 'calls.log'), '');
    writeFileSync(join(dir, 'state'), 'none');
  });
  afterAll(async () => {
    for (const d of drivers) await d.close();
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts a peer-to-peer live migration with the policy flags, then sets the downtime limit', async () => {
    const d = driver();
    expect(await d.precheck(request)).toEqual({ ok: true });
    const handle = await d.start(request, tuning);
    expect(calls()).toContain(
      '-c qemu:///system migrate --live --p2p --persistent --undefinesource --postcopy --bandwidth 64 web-1 qemu+ssh://hv2/system',
    );
    expect(calls()).toContain('-c qemu:///system migrate-setmaxdowntime web-1 50');
    const s = await d.sample(handle);
    expect(s).toMatchObject({ status: 'active', iteration: 2 });
    expect(s.dirtyBytesPerS).toBe(31340 * 4096);
  });

  it('finds the running job again after a restart instead of starting another', async () => {
    await driver().start(request, tuning);
    const again = await driver().start(request, tuning);
    expect(again.migrationId).toBe(request.migrationId);
    expect(calls().filter((c) => c.includes(' migrate --live'))).toHaveLength(1);
  });

  it('tunes, switches to post-copy, and reports the completed job; the instance moves', async () => {
    const d = driver();
    const handle = await d.start(request, tuning);
    await d.tune(handle, { downtimeLimitMs: 200, maxBandwidthBytesPerS: 100 * MiB });
    await d.switchToPostCopy(handle);
    expect((await d.sample(handle)).status).toBe('postcopy-active');
    writeFileSync(join(dir, 'state'), 'completed');
    expect(await d.sample(handle)).toMatchObject({ status: 'completed', downtimeMs: 41, remainingBytes: 0 });
    expect(calls()).toEqual(
      expect.arrayContaining([
        '-c qemu:///system migrate-setmaxdowntime web-1 200',
        '-c qemu:///system migrate-setspeed web-1 100',
        '-c qemu:///system migrate-postcopy web-1',
      ]),
    );
    expect((await d.inventory()).instances[0]!.host).toBe('hv2');
  });

  it('aborts a paused migration and resumes the guest on the source', async () => {
    const d = driver();
    const handle = await d.start(request, tuning);
    await d.pause(handle);
    await d.abort(handle);
    expect(await d.sample(handle)).toMatchObject({ status: 'cancelled' });
    const log = calls();
    expect(log.indexOf('-c qemu:///system domjobabort web-1')).toBeLessThan(
      log.indexOf('-c qemu:///system resume web-1'),
    );
  });

  it('refuses an instance name a shell could misread, before running anything', async () => {
    await expect(driver().start({ ...request, instance: 'web-1;reboot' }, tuning)).rejects.toBeInstanceOf(
      InputError,
    );
    expect(calls()).toEqual(['']);
  });
});
