import { describe, expect, it } from 'vitest';
import { ConfigError, InputError } from '../../../src/engine/errors.js';
import { assertName, renderCommand, shellCommand, shellQuote } from '../../../src/engine/ssh/quote.js';

describe('shell quoting', () => {
  it('leaves plain words alone and single-quotes everything else', () => {
    expect(shellQuote('web-1.prod')).toBe('web-1.prod');
    expect(shellQuote('/run/ferry/web-1.qmp')).toBe('/run/ferry/web-1.qmp');
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote('$(reboot)')).toBe("'$(reboot)'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('x;rm -rf /')).toBe("'x;rm -rf /'");
  });

  it('refuses control characters, newlines included', () => {
    expect(() => shellQuote('a\nreboot')).toThrow(InputError);
    expect(() => shellQuote('a\u0000')).toThrow(InputError);
  });

  it('builds a command line from arguments', () => {
    expect(shellCommand(['virsh', 'domjobinfo', 'web 1'])).toBe("virsh domjobinfo 'web 1'");
  });
});

describe('names', () => {
  it('accepts host and instance names and rejects anything a shell could read differently', () => {
    expect(assertName('cmp-042', 'host')).toBe('cmp-042');
    for (const bad of ['', '-rf', 'a b', 'a;b', '$(x)', '../etc', 'a'.repeat(64), 'x\n'])
      expect(() => assertName(bad, 'instance')).toThrow(InputError);
  });
});

describe('command templates from config', () => {
  it('fills placeholders with quoted values', () => {
    expect(
      renderCommand('start-vm --name {instance} --qmp {qmpSocket}', {
        instance: 'web-1',
        qmpSocket: '/tmp/a b',
      }),
    ).toBe("start-vm --name web-1 --qmp '/tmp/a b'");
  });

  it('names an unknown placeholder instead of leaving it in the command', () => {
    expect(() => renderCommand('x {nope}', { instance: 'a' })).toThrow(ConfigError);
  });
});
