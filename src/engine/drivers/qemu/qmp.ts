import type { Duplex } from 'node:stream';
import { z } from 'zod';
import {
  DriverRefusedError,
  DriverReplyError,
  DriverUnreachableError,
  type FerryError,
  TimeoutError,
} from '../../errors.js';

/**
 * A QMP client over any byte stream (a local unix socket, or an SSH stream-local forward).
 * QMP speaks one JSON object per line: a greeting, then replies carrying the id of their command,
 * interleaved with asynchronous events. Every message is zod-validated before use.
 */

/**
 * The longest line a monitor may send, in characters. QEMU's longest replies (query-migrate,
 * query-status) are a few KiB; a line past this is garbage or an attack, and buffering it would
 * let one VM's monitor eat the worker's memory: that connection fails, no other.
 */
export const MAX_QMP_LINE = 1024 * 1024;

const greetingSchema = z.object({
  QMP: z.object({
    version: z.object({ qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }) }),
  }),
});
const returnSchema = z.object({ return: z.unknown(), id: z.string().optional() });
const errorSchema = z.object({
  error: z.object({ class: z.string(), desc: z.string() }),
  id: z.string().optional(),
});
const eventSchema = z.object({
  event: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  timestamp: z.object({ seconds: z.number(), microseconds: z.number() }).optional(),
});

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
}

interface Pending {
  id: string;
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: FerryError) => void;
  timer: NodeJS.Timeout;
}

export interface QmpOptions {
  /** What the monitor is, for error messages (e.g. `cmp-1:/run/ferry/web-1.qmp`). */
  label: string;
  /** Per-command timeout, ms. */
  timeoutMs?: number;
}

export class QmpClient {
  readonly label: string;
  private readonly timeoutMs: number;
  /** The current line's pieces so far: each chunk is scanned once, however long the line grows. */
  private partial: string[] = [];
  private partialLength = 0;
  private nextId = 1;
  private pending: Pending[] = [];
  private listeners = new Set<(event: QmpEvent) => void>();
  private closeListeners = new Set<(err?: FerryError) => void>();
  private greeting?: (err: FerryError | undefined) => void;
  private closed = false;
  version?: string;

  private constructor(
    private readonly stream: Duplex,
    options: QmpOptions,
  ) {
    this.label = options.label;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.onData(chunk));
    stream.on('error', (err) => this.shutdown(this.unreachable(`connection error: ${err.message}`, err)));
    // QEMU closing its side means no reply will come, whatever our side still does.
    stream.on('end', () => this.shutdown(this.unreachable('connection closed by QEMU')));
    stream.on('close', () => this.shutdown(this.unreachable('connection closed')));
  }

  /** Reads the greeting and negotiates capabilities; the client is then ready for commands. */
  static async connect(stream: Duplex, options: QmpOptions): Promise<QmpClient> {
    const client = new QmpClient(stream, options);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new TimeoutError(`QMP at ${client.label} sent no greeting`)),
        client.timeoutMs,
      );
      client.greeting = (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
    }).catch((err) => {
      client.close();
      throw err;
    });
    await client.execute('qmp_capabilities');
    return client;
  }

  /** Runs one command and resolves with its `return` value (rejects on a QMP error reply). */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(this.unreachable('connection closed'));
    const id = `ferry-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = this.pending.filter((p) => p.id !== id);
        reject(new TimeoutError(`QMP ${command} at ${this.label} did not answer in ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.push({ id, command, resolve, reject, timer });
      this.stream.write(
        `${JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id })}\n`,
      );
    });
  }

  /** Runs a command and parses its reply with `schema` (a mismatch is a DriverReplyError). */
  async query<T>(command: string, schema: z.ZodType<T>, args?: Record<string, unknown>): Promise<T> {
    const value = await this.execute(command, args);
    const parsed = schema.safeParse(value);
    if (!parsed.success)
      throw new DriverReplyError(
        `QMP ${command} at ${this.label} answered an unexpected shape: ${parsed.error.issues[0]?.message ?? ''}`,
        { cause: parsed.error },
      );
    return parsed.data;
  }

  /** Subscribes to asynchronous events; returns the unsubscribe function. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called once when the connection ends (with the reason, unless closed by us). */
  onClose(listener: (err?: FerryError) => void): void {
    if (this.closed) listener();
    else this.closeListeners.add(listener);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    this.shutdown(undefined);
    this.stream.destroy();
  }

  private onData(chunk: string): void {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0 && !this.closed; nl = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, nl);
      start = nl + 1;
      if (!this.fits(piece)) return;
      const line = (this.partial.length > 0 ? this.partial.join('') + piece : piece).trim();
      this.partial = [];
      this.partialLength = 0;
      if (line) this.onLine(line);
    }
    const rest = chunk.slice(start);
    if (this.closed || rest.length === 0 || !this.fits(rest)) return;
    this.partial.push(rest);
    this.partialLength += rest.length;
  }

  /** Whether `piece` still fits the current line; if not, the connection fails (typed) and is dropped. */
  private fits(piece: string): boolean {
    if (this.partialLength + piece.length <= MAX_QMP_LINE) return true;
    this.partial = [];
    this.partialLength = 0;
    this.shutdown(
      new DriverReplyError(
        `QMP at ${this.label} sent a line longer than ${MAX_QMP_LINE} characters: not a QEMU monitor reply; connection dropped`,
      ),
    );
    this.stream.destroy();
    return false;
  }

  private onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (err) {
      // QEMU has sent tokens JSON does not allow (e.g. `-nan` for a rate): fail that command only.
      const id = /"id"\s*:\s*"([^"]+)"/.exec(line)?.[1];
      const target = this.pending.find((p) => p.id === id) ?? this.pending[0];
      if (target)
        this.settle(
          target.id,
          undefined,
          new DriverReplyError(this.invalidJson(target.command, line), { cause: err }),
        );
      return;
    }
    if (this.greeting) {
      const g = greetingSchema.safeParse(message);
      const done = this.greeting;
      this.greeting = undefined;
      if (g.success) {
        const v = g.data.QMP.version.qemu;
        this.version = `${v.major}.${v.minor}.${v.micro}`;
        done(undefined);
      } else
        done(new DriverReplyError(`${this.label} is not a QMP monitor (greeting: ${line.slice(0, 120)})`));
      return;
    }
    const ret = returnSchema.safeParse(message);
    if (ret.success && ret.data.id) {
      this.settle(ret.data.id, ret.data.return);
      return;
    }
    const error = errorSchema.safeParse(message);
    if (error.success && error.data.id) {
      const command = this.pending.find((p) => p.id === error.data.id)?.command ?? 'command';
      this.settle(
        error.data.id,
        undefined,
        new DriverRefusedError(`QEMU at ${this.label} refused ${command}: ${error.data.error.desc}`),
      );
      return;
    }
    const event = eventSchema.safeParse(message);
    if (event.success) {
      for (const l of this.listeners) l({ event: event.data.event, data: event.data.data ?? {} });
    }
  }

  private invalidJson(command: string, line: string): string {
    return `QMP ${command} at ${this.label} answered invalid JSON (${line.slice(0, 80)}...)`;
  }

  private settle(id: string, value: unknown, err?: FerryError): void {
    const p = this.pending.find((x) => x.id === id);
    if (!p) return;
    this.pending = this.pending.filter((x) => x !== p);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  private unreachable(why: string, cause?: unknown): FerryError {
    return new DriverUnreachableError(`QMP at ${this.label}: ${why}`, { cause });
  }

  private shutdown(err: FerryError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    const reason = err ?? this.unreachable('connection closed');
    this.greeting?.(reason);
    this.greeting = undefined;
    for (const p of this.pending) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.pending = [];
    for (const l of this.closeListeners) l(err);
    this.closeListeners.clear();
  }
}
