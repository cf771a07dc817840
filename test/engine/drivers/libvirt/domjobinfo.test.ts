import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDomJobInfo, sampleFromDomJobInfo } from '../../../../src/engine/drivers/libvirt/domjobinfo.js';
import { DriverReplyError } from '../../../../src/engine/errors.js';
import { GiB, MiB } from '../../../../src/engine/model.js';

const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');
const inovex = fixture('virsh_domjobinfo_openstack_nonconverging_inovex132.txt');

describe('virsh domjobinfo', () => {
  it('parses a real OpenStack migration that does not converge', () => {
    const info = parseDomJobInfo(inovex);
    expect(info).toMatchObject({
      jobType: 'Unbounded',
      operation: 'Outgoing migration',
      elapsedMs: 294154,
      iteration: 2,
      dirtyPagesPerS: 31340,
      pageSizeBytes: 4096,
    });
    expect(info.memoryTotalBytes).toBe(Math.round(32.009 * GiB));
    expect(info.memoryRemainingBytes).toBe(Math.round(26.287 * GiB));
    expect(info.memoryBandwidthBytesPerS).toBe(Math.round(101.96 * MiB));
  });

  it('maps it onto a sample that shows why: dirtying outruns the bandwidth', () => {
    const s = sampleFromDomJobInfo(parseDomJobInfo(inovex), 5);
    expect(s).toMatchObject({ at: 5, status: 'active', iteration: 2 });
    expect(s.dirtyBytesPerS).toBe(31340 * 4096);
    expect(s.dirtyBytesPerS).toBeGreaterThan(s.bandwidthBytesPerS);
    expect(s.transferredBytes).toBe(Math.round(32.196 * GiB));
  });

  it('reads a completed job with its downtime, and post-copy when the driver switched', () => {
    const done = parseDomJobInfo(
      'Job type:         Completed\nOperation:        Outgoing migration\nTime elapsed:     8123         ms\n' +
        'Memory processed: 1.020 GiB\nMemory remaining: 0.000 B\nMemory total:     1.000 GiB\n' +
        'Total downtime:   41           ms\nAuto converge throttle: 30           %\n',
    );
    expect(sampleFromDomJobInfo(done, 0)).toMatchObject({
      status: 'completed',
      downtimeMs: 41,
      remainingBytes: 0,
      throttlePct: 30,
    });
    expect(sampleFromDomJobInfo(parseDomJobInfo(inovex), 0, { postcopy: true }).status).toBe(
      'postcopy-active',
    );
    expect(sampleFromDomJobInfo(parseDomJobInfo('Job type:         None\n'), 0).status).toBe('setup');
  });

  it('refuses output that is not a job report, or a size that is not a size', () => {
    expect(() => parseDomJobInfo("error: failed to get domain 'x'")).toThrow(DriverReplyError);
    expect(() => parseDomJobInfo('Job type: Unbounded\nMemory total: lots\n')).toThrow(DriverReplyError);
    expect(() => sampleFromDomJobInfo(parseDomJobInfo('Job type: Sideways\n'), 0)).toThrow(DriverReplyError);
  });

  it('calls a job without sizes yet setup: libvirt is still connecting to the destination', () => {
    const setup = parseDomJobInfo(fixture('virsh11_domjobinfo_outgoing_setup_netns.txt'));
    expect(setup).toEqual({ jobType: 'Unbounded', operation: 'Outgoing migration', elapsedMs: 114 });
    expect(sampleFromDomJobInfo(setup, 0).status).toBe('setup');
    const first = sampleFromDomJobInfo(
      parseDomJobInfo(fixture('virsh11_domjobinfo_outgoing_postcopy_capable_netns.txt')),
      0,
    );
    expect(first).toMatchObject({ status: 'active', iteration: 1, expectedDowntimeMs: 300 });
    expect(first.remainingBytes).toBe(Math.round(28.277 * MiB));
  });

  it("reads the destination's record of a completed incoming migration (the source has none left)", () => {
    const info = parseDomJobInfo(fixture('virsh11_domjobinfo_completed_incoming_netns.txt'));
    expect(info).toMatchObject({ jobType: 'Completed', operation: 'Incoming migration', downtimeMs: 211 });
    expect(sampleFromDomJobInfo(info, 0)).toMatchObject({
      status: 'completed',
      remainingBytes: 0,
      transferredBytes: Math.round(32.545 * MiB),
      totalBytes: Math.round(40.375 * MiB),
      downtimeMs: 211,
      iteration: 3,
    });
  });
});
