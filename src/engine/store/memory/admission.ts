import type { AdmissionGate } from '../../ports.js';

/** Admission one evacuation at a time in this process: a queue of waiters. */
export class MemoryAdmissionGate implements AdmissionGate {
  private tail: Promise<unknown> = Promise.resolve();

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
