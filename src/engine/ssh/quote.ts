import { ConfigError, InputError } from '../errors.js';
import { NAME_PATTERN } from '../model.js';

/** Returns `value` if it is a plain name (letters, digits, ".", "_", "-"); throws InputError otherwise. */
export function assertName(value: string, what: string): string {
  if (!NAME_PATTERN.test(value))
    throw new InputError(`${what} "${value.slice(0, 80)}" is not a name (letters, digits, ".", "_" or "-")`);
  return value;
}

const SAFE = /^[A-Za-z0-9_/.:=@%+,-]+$/;

/**
 * Quotes one argument for a POSIX shell: safe words stay as they are, anything else goes in
 * single quotes (a quote inside becomes '\''). Control characters are refused outright.
 */
export function shellQuote(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value))
    throw new InputError('a command argument contains control characters');
  if (value !== '' && SAFE.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Joins arguments into one shell command line, each quoted. */
export function shellCommand(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}

/**
 * Fills a command template from config: each `{key}` becomes the quoted value. The template is
 * trusted (it comes from the operator's config file); the values are not and are always quoted.
 */
export function renderCommand(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined)
      throw new ConfigError(
        `command template uses {${key}}, which ferry does not know (known: ${Object.keys(values).join(', ')})`,
      );
    return shellQuote(value);
  });
}
