import { describe, expect, it } from 'vitest';
import { detachedRun, parseRunLog, runLogPath } from '../../../../src/engine/drivers/libvirt/run-log.js';

describe('the run log of a detached virsh migrate', () => {
  it('reads which migration it is, whether virsh returned, and what it said went wrong', () => {
    // What virsh printed when libvirt's keepalive gave up on the destination (recorded), after
    // --verbose progress rewritten in place with carriage returns.
    const text = [
      'ferry-migration evac-hv1-1:web-1',
      'ferry-pid 4242',
      'Migration: [ 10 %]\rMigration: [ 31 %]\rerror: internal error: client socket is closed',
      'ferry-exit 1',
      '',
    ].join('\n');
    expect(parseRunLog(text)).toEqual({
      migrationId: 'evac-hv1-1:web-1',
      pid: 4242,
      exitCode: 1,
      errors: ['internal error: client socket is closed'],
    });
    expect(parseRunLog('ferry-migration m\n')).toEqual({ migrationId: 'm', errors: [] });
  });

  it('is not a run log when it does not say which migration it is (missing, or some other file)', () => {
    expect(parseRunLog('')).toBeUndefined();
    expect(parseRunLog('Migration: [100 %]\n')).toBeUndefined();
  });

  it('starts virsh in a session of its own, every value quoted', () => {
    const line = detachedRun(
      ['virsh', 'migrate', "we'b"],
      runLogPath('/run/ferry/', 'web-1'),
      '/run/ferry',
      'e 1',
    );
    expect(line).toContain("printf 'ferry-migration %s\\n' 'e 1' > /run/ferry/web-1.migration.log");
    expect(line).toContain('setsid sh -c');
    expect(line).toContain(`virsh migrate '\\''we'\\''\\'\\'''\\''b'\\''`);
  });
});
