import { FerryError } from '../../engine/errors.js';

/**
 * What one preflight check found. `ok`: there and usable; `warn`: usable, with a caveat the
 * detail names; `fail`: a drain would fail on it; `skip`: not needed by this config, or only a
 * write would tell (the detail says which). Only `fail` makes `ferry check` exit 1.
 */
export type Verdict = 'ok' | 'warn' | 'fail' | 'skip';

export type Component = 'config' | 'redis' | 'ssh' | 'qemu' | 'libvirt' | 'nova' | 'slack';

export interface CheckResult {
  component: Component;
  /** What was checked: a host, an instance, a URL, a token. */
  target: string;
  /** The check's name, e.g. `reachable`, `version`, `policy os_compute_api:os-migrations:index`. */
  check: string;
  verdict: Verdict;
  /** What was found, or what is wrong and what was expected. Never a secret (redacted on output). */
  detail: string;
}

/** Whether every needed thing is there: no check failed. */
export function allPassed(results: readonly CheckResult[]): boolean {
  return results.every((r) => r.verdict !== 'fail');
}

/** A check's result from a probe: its verdict and detail, or `fail` with the error's user message. */
export async function attempt(
  base: Pick<CheckResult, 'component' | 'target' | 'check'>,
  probe: () => Promise<Pick<CheckResult, 'verdict' | 'detail'>>,
): Promise<CheckResult> {
  try {
    return { ...base, ...(await probe()) };
  } catch (err) {
    // A component's own error (ioredis, fetch) says what happened in its words: no "internal error".
    const detail =
      err instanceof FerryError ? err.userMessage : err instanceof Error ? err.message : String(err);
    return { ...base, verdict: 'fail', detail };
  }
}

/** `a.b.c` as numbers, for comparing versions (missing parts are 0). */
export function versionAtLeast(version: string, minimum: string): boolean {
  const parts = (v: string) => v.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const a = parts(version);
  const b = parts(minimum);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}
