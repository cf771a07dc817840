import { readFileSync } from 'node:fs';

/**
 * Reads the shipped systemd units (examples/deploy/) the way systemd does, as far as the tests
 * need: a directive's value, the words of a command line, specifiers (%i, %t, %H, %%) and
 * `$VAR` (split at whitespace into words) / `${VAR}` (inside a word) from an environment file.
 */

/** The values of `key` in `[section]` of a unit file's text, in order. */
export function directive(text: string, section: string, key: string): string[] {
  const values: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === section && line.startsWith(`${key}=`)) values.push(line.slice(key.length + 1));
  }
  return values;
}

/** The single value of `key`; throws when the unit has none or several. */
export function single(text: string, section: string, key: string): string {
  const values = directive(text, section, key);
  if (values.length !== 1) throw new Error(`expected one ${key}= in [${section}], found ${values.length}`);
  return values[0]!;
}

/** An EnvironmentFile's assignments (`KEY=value`, optionally quoted). */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const value = line.slice(eq + 1).trim();
    env[line.slice(0, eq).trim()] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
  }
  return env;
}

/** The argv systemd runs for a command line, with specifiers and the environment expanded. */
export function commandLine(
  value: string,
  specifiers: Record<string, string>,
  env: Record<string, string>,
): string[] {
  const words = value.match(/"[^"]*"|'[^']*'|\S+/g) ?? [];
  const specified = (word: string) =>
    word.replace(/%(.)/g, (_, c: string) => {
      if (c === '%') return '%';
      const v = specifiers[c];
      if (v === undefined) throw new Error(`specifier %${c} is not known to the test`);
      return v;
    });
  return words.flatMap((word) => {
    const unquoted = /^(["']).*\1$/.test(word) ? word.slice(1, -1) : word;
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(unquoted);
    if (whole) return (env[whole[1]!] ?? '').split(/\s+/).filter(Boolean);
    return [specified(unquoted).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k: string) => env[k] ?? '')];
  });
}

/** A unit file of examples/deploy/. */
export function deployUnit(name: string): string {
  return readFileSync(new URL(`../../examples/deploy/${name}`, import.meta.url), 'utf8');
}
