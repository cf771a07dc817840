import { FerryError } from '../../errors.js';

/** A value read from Redis does not have the shape ferry wrote: named, never a crash deep inside. */
export class StoredStateError extends FerryError {
  constructor(what: string, detail: string) {
    super('INTERNAL', `stored ${what} in Redis is unreadable (${detail}); it was not written by this ferry`);
  }
}

/**
 * This worker no longer holds the job of the evacuation it was running (its lock expired and
 * another worker took the job over). The runner must stop: its commits are refused from now on.
 */
export class LockLostError extends FerryError {
  constructor(evacuationId: string) {
    super('CONFLICT', `evacuation ${evacuationId} is now run by another worker; this one stopped`);
  }
}
