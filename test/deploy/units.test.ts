import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maintenanceSchema } from '../../src/engine/config.js';
import { qemuConfigSchema } from '../../src/engine/drivers/qemu/config.js';
import { commandLine, deployUnit, directive, single } from '../support/systemd-unit.js';

const UNITS = ['ferry-bot.service', 'ferry-worker@.service', 'ferry-incoming@.service'];
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('the systemd units in examples/deploy', () => {
  it.skipIf(!analyze)('pass systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-units-'));
    try {
      // A template is verified as one of its instances.
      const files = UNITS.map((unit) => {
        const path = join(dir, unit.replace('@.', '@vm-1.'));
        copyFileSync(new URL(`../../examples/deploy/${unit}`, import.meta.url), path);
        return path;
      });
      const out = execFileSync('systemd-analyze', ['verify', '--man=no', ...files], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(out).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('run the package’s own programs, restart on failure but not on a bad config, and read an environment file', () => {
    for (const [unit, bin] of [
      ['ferry-bot.service', 'bin/ferry-bot.js'],
      ['ferry-worker@.service', 'bin/ferry-worker.js'],
    ] as const) {
      const text = deployUnit(unit);
      const argv = commandLine(single(text, 'Service', 'ExecStart'), { i: '1', H: 'hv' }, {});
      expect(argv.slice(0, 2)).toEqual(['/usr/bin/node', `/opt/ferry/${bin}`]);
      expect(existsSync(new URL(`../../${bin}`, import.meta.url))).toBe(true);
      expect(argv).toContain('--config');
      expect(single(text, 'Service', 'Restart')).toBe('on-failure');
      expect(single(text, 'Service', 'RestartPreventExitStatus')).toBe('2');
      expect(directive(text, 'Service', 'EnvironmentFile')).toEqual(['/etc/ferry/ferry.env']);
      expect(single(text, 'Service', 'NoNewPrivileges')).toBe('yes');
    }
  });

  it('stop with SIGTERM, a handover, given long enough for a running maintenance to report', () => {
    // systemd's time spans as these units write them: "90", "90s", "31min".
    const seconds = (span: string) => {
      const match = /^(\d+)(s|min)?$/.exec(span);
      if (!match) throw new Error(`a time span this test does not read: ${span}`);
      return Number(match[1]) * (match[2] === 'min' ? 60 : 1);
    };
    const maintenance = maintenanceSchema.parse({}).timeoutS;
    for (const unit of ['ferry-bot.service', 'ferry-worker@.service']) {
      const text = deployUnit(unit);
      expect(single(text, 'Service', 'KillSignal'), unit).toBe('SIGTERM');
      expect(seconds(single(text, 'Service', 'TimeoutStopSec')), unit).toBeGreaterThan(maintenance);
    }
  });

  it('start the incoming QEMU where the qemu driver looks for it, waiting with -incoming defer', () => {
    const text = deployUnit('ferry-incoming@.service');
    const argv = commandLine(
      single(text, 'Service', 'ExecStart'),
      { i: 'web-01', t: '/run' },
      { QEMU_ARGS: '-m 512' },
    );
    expect(argv.slice(-2)).toEqual(['-incoming', 'defer']);
    expect(argv).toContain('-m');
    const qmp = argv[argv.indexOf('-qmp') + 1]!;
    // The default qmpSocket of the qemu driver, for the same instance.
    const socket = qemuConfigSchema.parse({ incomingCommand: 'x' }).qmpSocket.replace('{instance}', 'web-01');
    expect(qmp).toBe(`unix:${socket},server=on,wait=off`);
    expect(single(text, 'Service', 'Restart')).toBe('no');
    expect(single(text, 'Service', 'RuntimeDirectory')).toBe('ferry');
  });
});
