import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ErrorCode, FerryError, InputError, toFerryError } from '../../errors.js';
import type { SimDriver } from './driver.js';
import { type ErrorReply, type Operation, type OperationBody, requestSchemas } from './protocol.js';

/**
 * The simulated fleet in its own process, as a hypervisor would be: a small HTTP/JSON server on
 * loopback exposing one SimDriver's operations. The simulation keeps running whoever watches it,
 * so a worker killed mid-migration finds the migration again (by id) when it comes back.
 */

export interface SimServerOptions {
  driver: SimDriver;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
}

export interface SimServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Request bodies are small JSON documents; anything larger is refused unread. */
const MAX_BODY_BYTES = 1024 * 1024;

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  INPUT_INVALID: 400,
  NOT_FOUND: 404,
  MIGRATION_LOST: 404,
  CONFLICT: 409,
  DRIVER_REFUSED: 409,
  UNSUPPORTED: 501,
};

type Handler<O extends Operation> = (driver: SimDriver, body: OperationBody<O>) => Promise<unknown>;

const handlers: { [O in Operation]: Handler<O> } = {
  inventory: (d) => d.inventory(),
  'set-schedulable': async (d, b) => {
    await d.setSchedulable(b.host, b.enabled, b.reason);
    return {};
  },
  precheck: (d, b) => d.precheck(b.request),
  start: (d, b) => d.start(b.request, b.tuning),
  sample: (d, b) => d.sample(b.handle),
  'sample-many': async (d, b) => ({
    results: await Promise.all(
      b.handles.map((h) =>
        d.sample(h).then(
          (sample) => ({ sample }),
          (err: unknown) => errorBody(toFerryError(err)),
        ),
      ),
    ),
  }),
  tune: async (d, b) => {
    await d.tune(b.handle, b.tuning);
    return {};
  },
  'switch-to-postcopy': async (d, b) => {
    await d.switchToPostCopy(b.handle);
    return {};
  },
  pause: async (d, b) => {
    await d.pause(b.handle);
    return {};
  },
  'recover-postcopy': async (d, b) => {
    await d.recoverPostcopy(b.handle);
    return {};
  },
  abort: async (d, b) => {
    await d.abort(b.handle);
    return {};
  },
  'run-maintenance': (d, b) => d.runMaintenance(b.host),
  'inject-fault': async (d, b) => {
    d.injectFault(b.fault);
    return {};
  },
};

/** Starts the server; resolves once it listens. */
export async function startSimServer(options: SimServerOptions): Promise<SimServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    handle(options.driver, req, res).catch((err) => reply(res, 500, errorBody(toFerryError(err))));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function handle(driver: SimDriver, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://sim').pathname;
  if (req.method === 'GET' && path === '/snapshot') return reply(res, 200, driver.snapshot());
  if (req.method === 'GET' && path === '/health') return reply(res, 200, { ok: true });
  const op = path.startsWith('/op/') ? path.slice('/op/'.length) : '';
  if (req.method !== 'POST' || !Object.hasOwn(handlers, op))
    return reply(res, 404, errorBody(new FerryError('NOT_FOUND', `no operation ${req.method} ${path}`)));
  try {
    const body = parseBody(op as Operation, await readBody(req));
    const result = await (handlers[op as Operation] as Handler<Operation>)(driver, body);
    reply(res, 200, result);
  } catch (err) {
    const error = toFerryError(err);
    reply(res, HTTP_STATUS[error.code] ?? 500, errorBody(error));
  }
}

function parseBody(op: Operation, text: string): OperationBody<Operation> {
  let json: unknown;
  try {
    json = JSON.parse(text || '{}');
  } catch {
    throw new InputError(`the body of ${op} is not JSON`);
  }
  const parsed = requestSchemas[op].safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    throw new InputError(`the body of ${op} is not valid: ${issues.join('; ')}`);
  }
  return parsed.data;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new InputError(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function errorBody(error: FerryError): ErrorReply {
  return { error: { code: error.code, message: error.userMessage, retryable: error.retryable } };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
