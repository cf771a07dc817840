import { redact } from './redact.js';

/**
 * ferry's error hierarchy. Callers branch on `code`, show `userMessage` to people, and use
 * `retryable` to decide whether trying again can help. Never throw strings.
 */

import type { PlanRefusal } from './ports.js';
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'INPUT_INVALID'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'FORBIDDEN'
  | 'DRIVER_REPLY_INVALID'
  | 'DRIVER_UNREACHABLE'
  | 'DRIVER_REFUSED'
  | 'HOST_KEY_MISMATCH'
  | 'MIGRATION_FAILED'
  | 'MIGRATION_LOST'
  | 'AUTH_FAILED'
  | 'UNSUPPORTED'
  | 'TIMEOUT'
  | 'INTERNAL';

export class FerryError extends Error {
  readonly code: ErrorCode;
  /** Safe to show in chat or on a terminal: says what happened and what was expected. */
  readonly userMessage: string;
  readonly retryable: boolean;

  constructor(code: ErrorCode, userMessage: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    // Messages are built from URLs and replies: whatever credential they carry is hidden here, once.
    const safe = redact(userMessage);
    super(safe, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.userMessage = safe;
    this.retryable = options.retryable ?? false;
  }
}

/** A config file that does not parse or validate; names the file and the path inside it. */
export class ConfigError extends FerryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, options);
  }
}

/** Input from a person (chat command, CLI argument, button payload) that is not what was expected. */
export class InputError extends FerryError {
  constructor(message: string) {
    super('INPUT_INVALID', message);
  }
}

export class NotFoundError extends FerryError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** The thing asked for collides with work in progress (e.g. a host already being evacuated). */
export class ConflictError extends FerryError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

export class ForbiddenError extends FerryError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

/** A Confirm or Cancel whose ticket ferry did not issue to this user, or that expired or was used: `refusal` says which. */
export class PlanRefusedError extends ForbiddenError {
  constructor(
    readonly refusal: PlanRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** A hypervisor or cloud API answered something ferry does not understand. */
export class DriverReplyError extends FerryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('DRIVER_REPLY_INVALID', message, options);
  }
}

/** The back end could not be reached; trying again later may help. */
export class DriverUnreachableError extends FerryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('DRIVER_UNREACHABLE', message, { ...options, retryable: true });
  }
}

/** The back end understood and said no (e.g. Nova 409, QEMU refusing a command). */
export class DriverRefusedError extends FerryError {
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super('DRIVER_REFUSED', message, options);
  }
}

/**
 * The back end has no such migration (any more): its QEMU died, its host rebooted, the simulator
 * restarted, Nova dropped the record. Not retryable and not transient: asking again gives the
 * same answer, so the engine reconciles against where the VM is instead (evacuation/reconcile.ts).
 */
export class MigrationLostError extends FerryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('MIGRATION_LOST', message, options);
  }
}

export class HostKeyMismatchError extends FerryError {
  constructor(message: string) {
    super('HOST_KEY_MISMATCH', message);
  }
}

export class AuthError extends FerryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('AUTH_FAILED', message, options);
  }
}

export class TimeoutError extends FerryError {
  constructor(message: string) {
    super('TIMEOUT', message, { retryable: true });
  }
}

/** Wraps anything thrown into a FerryError, keeping the original as the cause. */
export function toFerryError(err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FerryError('INTERNAL', `internal error: ${message}`, { cause: err });
}
