import type { z } from 'zod';
import { Batcher } from '../../batch.js';
import {
  ConflictError,
  DriverRefusedError,
  DriverReplyError,
  DriverUnreachableError,
  type ErrorCode,
  FerryError,
  MigrationLostError,
  NotFoundError,
  TimeoutError,
} from '../../errors.js';
import type { Fleet, ProgressSample, Tuning } from '../../model.js';
import type { Driver, MigrationHandle, MigrationRequest, PrecheckResult } from '../driver.js';
import type { SimFault } from './faults.js';
import type { SimSnapshot } from './fleet-sim.js';
import {
  emptyReplySchema,
  errorReplySchema,
  fleetReplySchema,
  handleSchema,
  maintenanceReplySchema,
  type Operation,
  type OperationBody,
  precheckReplySchema,
  sampleManyReplySchema,
  snapshotReplySchema,
} from './protocol.js';

export interface RemoteSimOptions {
  /** Base URL of a sim server, e.g. `http://127.0.0.1:4711`. */
  url: string;
  /** Per-request timeout, ms (default 10 s). */
  timeoutMs?: number;
  /** Timeout of `runMaintenance`, which takes simulated time on the server (default 10 min). */
  maintenanceTimeoutMs?: number;
}

const KNOWN_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'CONFIG_INVALID',
  'INPUT_INVALID',
  'NOT_FOUND',
  'CONFLICT',
  'FORBIDDEN',
  'DRIVER_REPLY_INVALID',
  'DRIVER_UNREACHABLE',
  'DRIVER_REFUSED',
  'HOST_KEY_MISMATCH',
  'MIGRATION_FAILED',
  'MIGRATION_LOST',
  'AUTH_FAILED',
  'UNSUPPORTED',
  'TIMEOUT',
  'INTERNAL',
]);

/**
 * The sim driver across a process boundary: every Driver call is one POST to a sim server
 * (server.ts), every reply is parsed with zod, and the server's typed errors come back as the
 * same FerryError classes. Holds no state of its own, so a new instance after a crash sees
 * everything the last one started.
 */
export class RemoteSimDriver implements Driver {
  readonly kind = 'sim' as const;
  private closed = false;
  /** The samples asked for together (a worker's tick): one request, not one per migration. */
  private readonly samples = new Batcher<MigrationHandle, ProgressSample>(async (handles) => {
    const { results } = await this.call('sample-many', { handles }, sampleManyReplySchema);
    if (results.length !== handles.length)
      throw new DriverReplyError(
        `the sim server answered ${results.length} of ${handles.length} samples asked for together`,
      );
    return results.map((r) => ('sample' in r ? r.sample : errorFromReply(r, 200, '/op/sample-many')));
  });

  constructor(private readonly options: RemoteSimOptions) {}

  async inventory(): Promise<Fleet> {
    return this.call('inventory', {}, fleetReplySchema);
  }

  async setSchedulable(host: string, enabled: boolean, reason: string): Promise<void> {
    await this.call('set-schedulable', { host, enabled, reason }, emptyReplySchema);
  }

  async precheck(request: MigrationRequest): Promise<PrecheckResult> {
    return this.call('precheck', { request: pick(request) }, precheckReplySchema);
  }

  async start(request: MigrationRequest, tuning: Tuning): Promise<MigrationHandle> {
    return this.call('start', { request: pick(request), tuning: pickTuning(tuning) }, handleSchema);
  }

  async sample(handle: MigrationHandle): Promise<ProgressSample> {
    return this.samples.call(handle);
  }

  async tune(handle: MigrationHandle, tuning: Partial<Tuning>): Promise<void> {
    await this.call('tune', { handle, tuning }, emptyReplySchema);
  }

  async switchToPostCopy(handle: MigrationHandle): Promise<void> {
    await this.call('switch-to-postcopy', { handle }, emptyReplySchema);
  }

  async pause(handle: MigrationHandle): Promise<void> {
    await this.call('pause', { handle }, emptyReplySchema);
  }

  async recoverPostcopy(handle: MigrationHandle): Promise<void> {
    await this.call('recover-postcopy', { handle }, emptyReplySchema);
  }

  async abort(handle: MigrationHandle): Promise<void> {
    await this.call('abort', { handle }, emptyReplySchema);
  }

  async runMaintenance(host: string): Promise<{ ok: boolean; output: string }> {
    return this.call(
      'run-maintenance',
      { host },
      maintenanceReplySchema,
      this.options.maintenanceTimeoutMs ?? 600_000,
    );
  }

  /** Injects a fault into the running simulation; its `afterMs` counts from now. */
  async injectFault(fault: SimFault): Promise<void> {
    await this.call('inject-fault', { fault }, emptyReplySchema);
  }

  /** The server's whole simulated state now. */
  async snapshot(): Promise<SimSnapshot> {
    return this.request('GET', '/snapshot', undefined, snapshotReplySchema, this.timeoutMs());
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  // ------------------------------------------------------------------------------------------

  private timeoutMs(): number {
    return this.options.timeoutMs ?? 10_000;
  }

  private call<O extends Operation, T>(
    op: O,
    body: OperationBody<O>,
    schema: z.ZodType<T>,
    timeoutMs = this.timeoutMs(),
  ): Promise<T> {
    return this.request('POST', `/op/${op}`, body, schema, timeoutMs);
  }

  private async request<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    schema: z.ZodType<T>,
    timeoutMs: number,
  ): Promise<T> {
    if (this.closed) throw new FerryError('INTERNAL', 'the remote sim driver is closed');
    const url = new URL(path, this.options.url);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      if ((err as Error).name === 'TimeoutError')
        throw new TimeoutError(
          `the sim server at ${this.options.url} did not answer ${path} within ${timeoutMs} ms`,
        );
      throw new DriverUnreachableError(
        `cannot reach the sim server at ${this.options.url}: ${describe(err)}`,
        {
          cause: err,
        },
      );
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (err) {
      throw new DriverReplyError(`the sim server answered ${path} with something that is not JSON`, {
        cause: err,
      });
    }
    if (!res.ok) throw errorFromReply(json, res.status, path);
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new DriverReplyError(
        `the sim server's reply to ${path} is not valid: ${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.') || '(reply)'}: ${i.message}`)
          .join('; ')}`,
      );
    return parsed.data;
  }
}

/** The server's FerryError rebuilt on this side, by code. */
function errorFromReply(json: unknown, status: number, path: string): FerryError {
  const parsed = errorReplySchema.safeParse(json);
  if (!parsed.success) return new DriverReplyError(`the sim server answered ${path} with HTTP ${status}`);
  const { code, message, retryable } = parsed.data.error;
  switch (code) {
    case 'NOT_FOUND':
      return new NotFoundError(message);
    case 'MIGRATION_LOST':
      return new MigrationLostError(message);
    case 'DRIVER_REFUSED':
      return new DriverRefusedError(message, { retryable });
    case 'CONFLICT':
      return new ConflictError(message);
    case 'TIMEOUT':
      return new TimeoutError(message);
    default:
      return KNOWN_CODES.has(code)
        ? new FerryError(code as ErrorCode, message, { retryable })
        : new DriverReplyError(`the sim server failed with unknown code ${code}: ${message}`);
  }
}

/** Only the request's own fields: the server refuses unknown ones. */
function pick(request: MigrationRequest): MigrationRequest {
  const { migrationId, instance, from, to } = request;
  return { migrationId, instance, from, to };
}

function pickTuning(tuning: Tuning): Tuning {
  const { downtimeLimitMs, maxBandwidthBytesPerS, autoConverge, postcopyCapable, multifdChannels } = tuning;
  return { downtimeLimitMs, maxBandwidthBytesPerS, autoConverge, postcopyCapable, multifdChannels };
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
}
