import { describe, expect, it } from 'vitest';
import { parseCommand, parseDuration, parseTime, tokenize } from '../../src/commands/grammar.js';

// 2026-11-24 10:00 UTC: London is on GMT, so wall time equals UTC.
const context = { now: Date.UTC(2026, 10, 24, 10, 0), timezone: 'Europe/London' };
const parse = (text: string) => parseCommand(text, context);

describe('the /ferry grammar', () => {
  it('moves a scheduled evacuation with reschedule ID WHEN, and says what is missing', () => {
    expect(parse('reschedule evac-cmp-042-20261124T0200 in 2h')).toEqual({
      ok: true,
      command: { name: 'reschedule', id: 'evac-cmp-042-20261124T0200', when: { kind: 'in', ms: 7_200_000 } },
    });
    expect(parse('reschedule evac-1 window nightly')).toMatchObject({
      ok: true,
      command: { when: { kind: 'window', name: 'nightly' } },
    });
    const bare = parse('reschedule evac-1');
    expect(bare).toMatchObject({
      ok: false,
      usage: '/ferry reschedule ID now | at TIME | in DURATION | window NAME',
    });
    expect(bare.ok ? '' : bare.error).toContain('needs a new time');
    expect(parse('reschedule evac-1 in 2h because')).toMatchObject({ ok: false });
  });

  it('answers a maintenance of unknown outcome with maintenance done|retry ID', () => {
    expect(parse('maintenance done evac-1')).toEqual({
      ok: true,
      command: { name: 'maintenance', answer: 'done', id: 'evac-1' },
    });
    expect(parse('maintenance RETRY evac-1')).toMatchObject({ ok: true, command: { answer: 'retry' } });
    const wrong = parse('maintenance maybe evac-1');
    expect(wrong).toMatchObject({ ok: false, usage: '/ferry maintenance done|retry ID' });
    expect(parse('maintenance done')).toMatchObject({ ok: false });
  });

  it('lists the maintenance windows with windows, which takes nothing more', () => {
    expect(parse('windows')).toEqual({ ok: true, command: { name: 'windows' } });
    expect(parse('windows saturday')).toMatchObject({ ok: false, usage: '/ferry windows' });
  });

  it('reads every command in its documented form', () => {
    expect(parse('')).toEqual({ ok: true, command: { name: 'help' } });
    expect(parse('help evacuate')).toEqual({ ok: true, command: { name: 'help', topic: 'evacuate' } });
    expect(parse('hosts cmp-0*')).toEqual({ ok: true, command: { name: 'hosts', filter: 'cmp-0*' } });
    expect(parse('plan cmp-042 window nightly')).toEqual({
      ok: true,
      command: { name: 'plan', host: 'cmp-042', window: 'nightly' },
    });
    expect(parse('evacuate cmp-042')).toEqual({
      ok: true,
      command: { name: 'evacuate', host: 'cmp-042', when: { kind: 'now' } },
    });
    expect(parse('EVACUATE cmp-042 now kernel 6.1 upgrade')).toEqual({
      ok: true,
      command: { name: 'evacuate', host: 'cmp-042', when: { kind: 'now' }, reason: 'kernel 6.1 upgrade' },
    });
    expect(parse('evacuate cmp-042 in 1h30m')).toEqual({
      ok: true,
      command: { name: 'evacuate', host: 'cmp-042', when: { kind: 'in', ms: 5_400_000 } },
    });
    expect(parse('evacuate cmp-042 window nightly disk swap')).toEqual({
      ok: true,
      command: {
        name: 'evacuate',
        host: 'cmp-042',
        when: { kind: 'window', name: 'nightly' },
        reason: 'disk swap',
      },
    });
    expect(parse('migrate db-07 to cmp-009 noisy neighbour')).toEqual({
      ok: true,
      command: { name: 'migrate', instance: 'db-07', to: 'cmp-009', reason: 'noisy neighbour' },
    });
    expect(parse('campaign cmp-1,cmp-2 at 02:00')).toMatchObject({
      ok: true,
      command: { name: 'campaign', hosts: ['cmp-1', 'cmp-2'], when: { kind: 'at' } },
    });
    expect(parse('status')).toEqual({ ok: true, command: { name: 'status' } });
    for (const verb of ['pause', 'resume', 'abort', 'report'] as const)
      expect(parse(`${verb} evac-cmp-042-1`)).toEqual({
        ok: true,
        command: { name: verb, id: 'evac-cmp-042-1' },
      });
  });

  it('answers malformed commands with what was expected and the usage of that command', () => {
    const cases: [string, RegExp, RegExp][] = [
      ['evacuate', /needs a HOST/, /evacuate HOST/],
      ['evacuate cmp-1 at 25:00', /not a time of day/, /evacuate HOST/],
      ['evacuate cmp-1 in soon', /DURATION/, /evacuate HOST/],
      ['evacuate ../etc/passwd', /host: expected a name/, /evacuate HOST/],
      ['pause', /exactly one evacuation ID/, /pause ID/],
      ['plan cmp-1 tonight', /window NAME/, /plan HOST/],
      ['frobnicate', /not a ferry command/, /\/ferry help/],
      ['campaign a,a', /listed twice/, /campaign HOST/],
    ];
    for (const [text, error, usage] of cases) {
      const result = parse(text);
      expect(result.ok, text).toBe(false);
      if (result.ok) continue;
      expect(result.error).toMatch(error);
      expect(result.usage).toMatch(usage);
    }
  });

  it('refuses control characters and overlong text, and never echoes mentions', () => {
    expect(parse('status \u0000')).toMatchObject({ ok: false, error: /control characters/ });
    expect(parse(`evacuate ${'x'.repeat(700)}`)).toMatchObject({ ok: false, error: /at most 600/ });
    const result = parse('<!channel> hi');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).not.toContain('<!');
  });

  it('undoes Slack escaping when tokenizing', () => {
    expect(tokenize('  evacuate   cmp-1 &lt;maint&gt; &amp; more ')).toEqual([
      'evacuate',
      'cmp-1',
      '<maint>',
      '&',
      'more',
    ]);
  });

  it('reads durations and wall times in the configured zone', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('0m')).toBeUndefined();
    expect(parseDuration('h')).toBeUndefined();
    // 09:00 has passed today: the next one is tomorrow.
    expect(parseTime('09:00', context)).toBe(Date.UTC(2026, 10, 25, 9, 0));
    expect(parseTime('11:30', context)).toBe(Date.UTC(2026, 10, 24, 11, 30));
    // London is on BST in July: 02:00 local is 01:00 UTC.
    expect(parseTime('2027-07-01T02:00', context)).toBe(Date.UTC(2027, 6, 1, 1, 0));
    expect(parseTime('2027-02-30T02:00', context)).toMatch(/not a date/);
    expect(parseTime('2020-01-01T02:00', context)).toMatch(/in the past/);
  });
});
