import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type CheckResult, runChecks } from '../../src/cli/check/index.js';
import { parseConfig } from '../../src/engine/compose.js';
import { MiB, type ProgressSample } from '../../src/engine/model.js';
import { expectArrivedIntact } from '../support/guest-checks.js';
import {
  type GuestSpec,
  type GuestVm,
  guestCommandLine,
  guestMachineArgs,
  LAB_HOSTS,
  type QemuLab,
  startGuestVm,
  startQemuLab,
} from '../support/qemu.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { commandLine, deployUnit, single } from '../support/systemd-unit.js';

/**
 * `ferry check` on real hypervisors (QEMU guests and libvirtd on the namespace hosts, reached
 * through each host's sshd), and the shipped ferry-incoming@ unit's command line starting the
 * destination of a real migration.
 */

const CALM: GuestSpec = { mib: 32, rateKib: 4 * 1024 };

let lab: QemuLab;
let redis: RedisServer;
const guests: GuestVm[] = [];
beforeAll(async () => {
  [lab, redis] = await Promise.all([startQemuLab(), startRedis()]);
}, 240_000);
afterEach(async () => {
  for (const g of guests.splice(0)) await g.stop();
  await lab.stopGuests();
});
afterAll(async () => {
  await lab?.stop();
  await redis?.stop();
});

const fleetHosts = LAB_HOSTS.map((name) => ({ name, vcpus: 8, memoryGiB: 4, nicGbps: 1 }));

function check(config: Record<string, unknown>): Promise<CheckResult[]> {
  const env = {};
  return runChecks(
    parseConfig(stringify({ redis: { url: redis.url }, ...config }), 'lab.yaml', env),
    env,
    'lab.yaml',
  );
}
const on = (results: CheckResult[], component: string, check: string) =>
  results.filter((r) => r.component === component && r.check === check);

describe('ferry check on the qemu driver', { timeout: 120_000 }, () => {
  it("reads each guest's QEMU version and migration capabilities through its QMP socket", async () => {
    await lab.startGuest('hv1', 'web-1', CALM);
    const results = await check({
      fleet: {
        driver: 'qemu',
        hosts: fleetHosts,
        instances: [
          { name: 'web-1', host: 'hv1', vcpus: 1, memoryGiB: 0.04 },
          // Configured, but its QEMU is not running: a drain could not move it.
          { name: 'web-2', host: 'hv2', vcpus: 1, memoryGiB: 0.04 },
        ],
      },
      ssh: lab.ssh,
      qemu: { ...lab.qemu, migrationAddresses: lab.qemu.migrationAddresses },
      // Multifd allowed: its capability is asked for too.
      policy: { multifdChannels: 4 },
    });
    expect(on(results, 'ssh', 'reachable').map((r) => r.verdict)).toEqual(['ok', 'ok', 'ok']);
    const [version] = on(results, 'qemu', 'version').filter((r) => r.target === 'hv1/web-1');
    expect(version).toMatchObject({ verdict: 'ok' });
    expect(version!.detail).toMatch(/^QEMU 10\.\d+\.\d+ on /);
    expect(on(results, 'qemu', 'migration capabilities')).toEqual([
      expect.objectContaining({
        target: 'hv1/web-1',
        verdict: 'ok',
        detail: 'offers events, auto-converge, postcopy-ram, multifd',
      }),
    ]);
    expect(on(results, 'qemu', 'incoming command').map((r) => r.verdict)).toEqual(['ok', 'ok', 'ok']);
    const missing = results.find((r) => r.target === 'hv2/web-2')!;
    expect(missing.verdict).toBe('fail');
    expect(missing.detail).toContain('web-2.qmp');
    expect(results.filter((r) => r.verdict === 'fail')).toEqual([missing]);
  });
});

describe('ferry check on the libvirt driver', { timeout: 180_000 }, () => {
  const libvirtConfig = () => ({
    fleet: { driver: 'libvirt', hosts: fleetHosts, instances: [] },
    ssh: lab.ssh,
    libvirt: { migrationAddresses: lab.qemu.migrationAddresses, commandTimeoutS: 15 },
  });

  it("reads libvirt's and QEMU's versions and capabilities, and each host's path to the others", async () => {
    const results = await check(libvirtConfig());
    expect(results.filter((r) => r.verdict === 'fail')).toEqual([]);
    for (const r of on(results, 'libvirt', 'version'))
      expect(r.detail).toMatch(
        /^libvirt 11\.\d+\.\d+, QEMU 10\.\d+\.\d+: live peer-to-peer migration, auto-converge with its throttle settings, post-copy$/,
      );
    // With multifd allowed, --parallel's versions are checked too.
    const multifd = await check({ ...libvirtConfig(), policy: { multifdChannels: 4 } });
    for (const r of on(multifd, 'libvirt', 'version'))
      expect(r.detail).toMatch(/, post-copy, multifd \(--parallel\)$/);
    expect(on(results, 'libvirt', 'capabilities').map((r) => r.verdict)).toEqual(['ok', 'ok', 'ok']);
    expect(
      on(results, 'libvirt', 'peer reachable')
        .map((r) => r.target)
        .sort(),
    ).toEqual(['hv1 → hv2', 'hv1 → hv3', 'hv2 → hv1', 'hv2 → hv3', 'hv3 → hv1', 'hv3 → hv2']);
  });

  it('fails on a host the others cannot reach', async () => {
    const hv3 = lab.topology.host('hv3');
    await hv3.outage(true);
    try {
      const results = await check(libvirtConfig());
      const failed = results
        .filter((r) => r.verdict === 'fail')
        .map((r) => r.target)
        .sort();
      expect(failed).toEqual(['hv1 → hv3', 'hv2 → hv3', 'hv3 → hv1', 'hv3 → hv2']);
      expect(results.find((r) => r.target === 'hv1 → hv3')!.detail).toMatch(
        /^hv1 cannot reach the libvirtd of hv3 at qemu\+ssh:\/\/10\./,
      );
    } finally {
      await hv3.outage(false);
    }
  });
});

describe('the ferry-incoming@ unit', { timeout: 180_000 }, () => {
  it('starts, from its own command line, the destination of a real migration', async () => {
    const unit = deployUnit('ferry-incoming@.service');
    const execStart = single(unit, 'Service', 'ExecStart');
    const instance = 'calm';
    // Each host's runtime directory (%t, /run under systemd) in the lab's shared /tmp.
    const runtime = (host: string) => join(lab.dir, host);
    for (const host of LAB_HOSTS) {
      mkdirSync(join(runtime(host), 'ferry'), { recursive: true });
      // /etc/ferry/instances/calm.env: the source's machine. Memory comes from the source, so
      // the destination's kernel command line only has to be one word (systemd splits
      // $QEMU_ARGS at whitespace).
      const machine = guestMachineArgs(CALM).map((a) =>
        a === guestCommandLine(CALM) ? a.split(' ')[0]! : a,
      );
      const env = { QEMU_ARGS: [...machine, '-serial', `file:${lab.serialOf(host, instance)}`].join(' ') };
      const argv = commandLine(execStart, { i: instance, t: runtime(host) }, env);
      writeFileSync(join(lab.dir, `${host}-${instance}.unit-argv`), `${argv.join('\n')}\n`);
    }
    // What `systemctl start ferry-incoming@calm` does, without systemd: run the unit's command
    // line, detached, and return.
    const script = join(lab.dir, 'start-unit.sh');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        'set -eu',
        `host=$1 instance=$2 dir=${lab.dir}`,
        'set --',
        'while IFS= read -r arg; do set -- "$@" "$arg"; done < "$dir/$host-$instance.unit-argv"',
        'setsid "$@" > "$dir/$host-$instance.unit.log" 2>&1 < /dev/null &',
        'echo $! > "$dir/$host-$instance.pid"',
        '',
      ].join('\n'),
    );
    const qmpSocket = join(lab.dir, '{host}', 'ferry', '{instance}.qmp');
    const source = await startGuestVm({
      qmpSocket: join(runtime('hv1'), 'ferry', `${instance}.qmp`),
      serialPath: lab.serialOf('hv1', instance),
      spec: CALM,
      netnsOf: lab.topology.host('hv1').holderPid,
    });
    guests.push(source);
    const driver = lab.driver({
      qemu: { qmpSocket, incomingCommand: `sh ${script} {host} {instance}` },
      fleet: lab.fleet([{ name: instance, host: 'hv1', spec: CALM }]),
    });
    const request = { migrationId: 'unit:calm', instance, from: 'hv1', to: 'hv2' };
    const handle = await driver.start(request, {
      downtimeLimitMs: 300,
      autoConverge: false,
      postcopyCapable: false,
      maxBandwidthBytesPerS: 64 * MiB,
    });
    let sample: ProgressSample;
    const deadline = Date.now() + 90_000;
    do {
      await new Promise((r) => setTimeout(r, 200));
      sample = await driver.sample(handle);
    } while (!['completed', 'failed', 'cancelled'].includes(sample.status) && Date.now() < deadline);
    expect(sample.status).toBe('completed');
    await expectArrivedIntact(lab.serialOf('hv1', instance), lab.serialOf('hv2', instance));
  });
});
