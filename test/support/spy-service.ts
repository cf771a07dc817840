import { FerryError } from '../../src/engine/errors.js';
import type { FerryService } from '../../src/engine/ports.js';

/**
 * Wraps a FerryService and counts every call by method name: the tests that say "nothing reached
 * the engine" assert on these counts. Without an inner service every call fails loudly.
 */
export function spyService(inner?: FerryService): { service: FerryService; calls: string[] } {
  const calls: string[] = [];
  const service = new Proxy({} as FerryService, {
    get(_, method: string) {
      return async (...args: unknown[]) => {
        calls.push(method);
        if (!inner) throw new FerryError('INTERNAL', `the engine was called: ${method}`);
        const fn = (inner as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!;
        return fn.apply(inner, args);
      };
    },
  });
  return { service, calls };
}
