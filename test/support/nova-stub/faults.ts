/**
 * Error bodies as Nova and Keystone write them. Nova's Fault wrapper (nova/api/openstack/wsgi.py)
 * names the body's one key after the status; statuses it has no name for (406 among them) get
 * `computeFault`. keystonemiddleware answers 401 in Keystone's shape, in front of Nova too.
 */

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const FAULT_KEYS: Readonly<Record<number, string>> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

const UNEXPECTED =
  'Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.';

export function faultBody(status: number, message: string): unknown {
  const text = status >= 500 && message === 'injected by the test' ? UNEXPECTED : message;
  return { [FAULT_KEYS[status] ?? 'computeFault']: { code: status, message: text } };
}

export function keystoneError(status: number, message: string): unknown {
  const title = status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Error';
  return { error: { code: status, message, title } };
}

/** Placement's error body (its own, not Nova's). */
export function placementError(status: number, message: string): unknown {
  const title = status === 404 ? 'Not Found' : 'Bad Request';
  return { errors: [{ status, title, detail: message, request_id: 'req-stub' }] };
}

/** nova.api.openstack.common.raise_http_conflict_for_instance_invalid_state's words. */
export function invalidState(action: string, serverId: string, attr: string, state: string): HttpError {
  return new HttpError(409, `Cannot '${action}' instance ${serverId} while it is in ${attr} ${state}`);
}

/** InvalidMigrationState's words (400 from force_complete and abort). */
export function invalidMigrationState(
  id: number,
  serverId: string,
  state: string,
  method: string,
): HttpError {
  return new HttpError(
    400,
    `Migration ${id} state of instance ${serverId} is ${state}. Cannot ${method} while the migration is in this state.`,
  );
}
