/**
 * Values are copied in and out of the in-process ports, as a database would, so callers cannot
 * share mutable state by accident.
 */
export const copy = <T>(value: T): T => structuredClone(value);

/** Freezes a plain value and everything it holds; already frozen parts are skipped. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}
