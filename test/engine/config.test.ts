import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/engine/compose.js';
import { defaultPolicy, fleetFromConfig, LIMITS } from '../../src/engine/config.js';
import { ConfigError } from '../../src/engine/errors.js';
import { GiB, MiB } from '../../src/engine/model.js';
import { aliasBomb } from '../fuzz/mutate.js';

const small = `
fleet:
  driver: sim
  hosts:
    - { name: cmp-001, vcpus: 32, memoryGiB: 256, nicGbps: 25, cpuModel: skylake, az: az1 }
    - { name: cmp-002, vcpus: 32, memoryGiB: 256, nicGbps: 25 }
  instances:
    - { name: web-1, host: cmp-001, vcpus: 4, memoryGiB: 8, dirtyMiBps: 50 }
    - { name: gpu-1, host: cmp-001, vcpus: 8, memoryGiB: 16, migratable: false, reason: "PCI passthrough" }
`;

function configError(text: string): string {
  try {
    parseConfig(text, 'fleet.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).userMessage;
  }
  throw new Error('expected the config to be refused');
}

describe('config', () => {
  it('fills every policy default from the anchors', () => {
    const config = parseConfig(small, 'fleet.yaml');
    expect(config.policy).toEqual(defaultPolicy);
    expect(config.policy.downtimeSloMs).toBe(500);
    expect(config.policy.completionTimeoutSPerGiB).toBe(150);
    expect(config.timezone).toBe('UTC');
  });

  it('converts the fleet into bytes and bytes per second', () => {
    const fleet = fleetFromConfig(parseConfig(small, 'fleet.yaml'));
    expect(fleet.hosts[0]).toMatchObject({
      name: 'cmp-001',
      memoryBytes: 256 * GiB,
      nicBytesPerS: 25e9 / 8,
      az: 'az1',
    });
    expect(fleet.instances[0]).toMatchObject({
      name: 'web-1',
      memoryBytes: 8 * GiB,
      dirtyBytesPerS: 50 * MiB,
    });
    expect(fleet.instances[1]).toMatchObject({ migratable: false, notMigratableReason: 'PCI passthrough' });
  });

  it('names the file, the path and what was expected', () => {
    const message = configError(small.replace('memoryGiB: 8', 'memoryGiB: lots'));
    expect(message).toContain('fleet.yaml');
    expect(message).toContain('fleet.instances[0].memoryGiB');
    expect(message).toMatch(/expected number/);
  });

  it('refuses unknown keys instead of ignoring a typo', () => {
    expect(configError(`${small}\npolicy:\n  downtimeSLO: 300\n`)).toContain('downtimeSLO');
  });

  it('refuses an instance on an unknown host and duplicate names', () => {
    expect(configError(small.replace('host: cmp-001, vcpus: 4', 'host: cmp-999, vcpus: 4'))).toContain(
      'unknown host "cmp-999"',
    );
    expect(configError(small.replace('name: cmp-002', 'name: cmp-001'))).toContain('duplicate host');
    // The same for the drivers that read their inventory from the config.
    for (const driver of ['qemu', 'libvirt'])
      expect(
        configError(
          small
            .replace('driver: sim', `driver: ${driver}`)
            .replace('host: cmp-001, vcpus: 4', 'host: cmp-999, vcpus: 4'),
        ),
      ).toContain('fleet.instances[0].host: unknown host "cmp-999"');
  });

  it('requires a reason for an instance that cannot migrate', () => {
    expect(configError(small.replace(', reason: "PCI passthrough"', ''))).toContain('needs a reason');
  });

  it('refuses broken YAML and a bad time zone', () => {
    expect(configError('fleet: [unclosed')).toContain('not valid YAML');
    expect(configError(`timezone: Mars/Olympus\n${small}`)).toContain('IANA time zone');
  });

  it('bounds every number by a physical limit, named in the error', () => {
    const policy = (field: string, value: string) => configError(`${small}\npolicy:\n  ${field}: ${value}\n`);
    expect(policy('stallTimeoutS', '1e9')).toContain('policy.stallTimeoutS: at most 604800 s (a week');
    expect(policy('sampleIntervalS', '1e-9')).toContain('policy.sampleIntervalS: at least 0.01 s');
    expect(policy('downtimeSloMs', '.inf')).toContain('policy.downtimeSloMs');
    expect(policy('maxGlobal', '.nan')).toContain('policy.maxGlobal');
    expect(policy('convergenceMargin', '1e300')).toContain('at most 100 ×');
    expect(configError(small.replace('vcpus: 4', 'vcpus: 1e6'))).toContain(
      `fleet.instances[0].vcpus: at most ${LIMITS.vcpus.max} vCPUs`,
    );
    expect(configError(small.replace('dirtyMiBps: 50', 'dirtyMiBps: 1e20'))).toContain(
      'fleet.instances[0].dirtyMiBps: at most 1048576 MiB/s',
    );
    expect(configError(small.replace('nicGbps: 25', 'nicGbps: 0'))).toContain(
      'fleet.hosts[0].nicGbps: more than 0 Gb/s',
    );
    // The limits are above real hardware: the largest figures in use pass.
    const roomy = small.replace('memoryGiB: 256', `memoryGiB: ${LIMITS.memoryGiB.max}`);
    expect(parseConfig(roomy, 'fleet.yaml').fleet.hosts[0]!.memoryGiB).toBe(65_536);
  });

  it('refuses an alias bomb and an oversized file as config errors', () => {
    expect(configError(aliasBomb(9))).toMatch(/not a usable YAML document: .*alias/i);
    expect(configError(`# ${'x'.repeat(17 * 1024 * 1024)}`)).toContain('too large for a ferry config');
  });

  it('says which file it could not read', () => {
    expect(() => loadConfig('/nonexistent/ferry.yaml')).toThrow(
      /cannot read config file \/nonexistent\/ferry.yaml/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'ferry-config-'));
    writeFileSync(join(dir, 'ok.yaml'), small);
    expect(loadConfig(join(dir, 'ok.yaml')).fleet.hosts).toHaveLength(2);
  });
});
