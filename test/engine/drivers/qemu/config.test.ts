import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/engine/clock.js';
import { parseConfig } from '../../../../src/engine/compose.js';
import { createQemuDriver } from '../../../../src/engine/drivers/qemu/index.js';
import { ConfigError } from '../../../../src/engine/errors.js';

const FP = `SHA256:${'x'.repeat(43)}`;

describe('qemu and ssh config sections', () => {
  it('parse with their defaults', () => {
    const config = parseConfig(
      [
        'fleet: { driver: qemu }',
        'ssh:',
        '  privateKeyPath: /etc/ferry/id_ed25519',
        `  hosts: [{ name: cmp-1, address: 10.0.0.1, hostKey: "${FP}" }]`,
        'qemu:',
        '  incomingCommand: /usr/local/bin/start-incoming {instance} {qmpSocket}',
      ].join('\n'),
      'ferry.yaml',
    );
    expect(config.ssh?.hosts[0]).toMatchObject({ port: 22, hostKey: FP });
    expect(config.ssh?.user).toBe('root');
    expect(config.qemu).toMatchObject({ qmpSocket: '/run/ferry/{instance}.qmp', qmpTimeoutS: 10 });
  });

  it('refuse a host without a usable pinned key', () => {
    expect(() =>
      parseConfig(
        [
          'fleet: { driver: qemu }',
          'ssh:',
          '  privateKeyPath: /k',
          '  hosts: [{ name: cmp-1, address: 10.0.0.1, hostKey: "trust me" }]',
        ].join('\n'),
        'ferry.yaml',
      ),
    ).toThrow(/ssh\.hosts\[0\]\.hostKey/);
  });

  it('say which section a qemu fleet is missing', () => {
    const config = parseConfig('fleet: { driver: qemu }', 'ferry.yaml');
    expect(() => createQemuDriver(config, systemClock)).toThrow(ConfigError);
  });
});
