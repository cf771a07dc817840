import { FerryError } from '../../errors.js';
import { SCHEMA_VERSION } from './version.js';

/** A value read from Redis does not have the shape ferry wrote: named, never a crash deep inside. */
export class StoredStateError extends FerryError {
  constructor(what: string, detail: string) {
    super('INTERNAL', `stored ${what} in Redis is unreadable (${detail}); it was not written by this ferry`);
  }
}

/**
 * Redis holds records (or a keyspace) of a newer ferry than this one: refused, never read as an
 * older shape. Upgrade this process; a rolling upgrade starts the new version beside the old.
 */
export class SchemaVersionError extends FerryError {
  constructor(
    readonly what: string,
    readonly found: number,
    /** The newest version of it this ferry reads (version.ts). */
    readonly understands: number = SCHEMA_VERSION,
  ) {
    super(
      'UNSUPPORTED',
      `${what} in Redis has schema version ${found}, newer than this ferry understands (${understands}); it was written by a newer ferry: run that version (or newer) here too`,
    );
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

/**
 * A commit would write an open state over an evacuation that has ended (a runner acting on a
 * state it read before the end was committed elsewhere): refused, the end stands. Retryable: the
 * runner's next attempt reads the ended record and stops.
 */
export class EvacuationEndedError extends FerryError {
  constructor(evacuationId: string) {
    super('CONFLICT', `evacuation ${evacuationId} has ended; a late step of it was not recorded`, {
      retryable: true,
    });
  }
}
