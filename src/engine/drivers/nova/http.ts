import type { z } from 'zod';
import {
  AuthError,
  DriverRefusedError,
  DriverReplyError,
  DriverUnreachableError,
  FerryError,
  ForbiddenError,
  NotFoundError,
  TimeoutError,
} from '../../errors.js';
import { keystoneErrorSchema, novaFaultSchema } from './schemas.js';

/** A fetch-compatible function (injectable for tests). */
export type Fetch = typeof fetch;

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  /** Names the service in messages, e.g. "Keystone" or "Nova". */
  service: string;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
}

/** One HTTP exchange; network failures and timeouts become retryable FerryErrors. */
export async function send(fetchImpl: Fetch, request: HttpRequest): Promise<HttpResponse> {
  const headers: Record<string, string> = { Accept: 'application/json', ...request.headers };
  if (request.body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  let text: string;
  try {
    response = await fetchImpl(request.url, {
      method: request.method,
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    text = await response.text();
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    if (name === 'TimeoutError' || name === 'AbortError')
      throw new TimeoutError(
        `${request.service} did not answer ${request.method} ${request.url} within ${request.timeoutMs / 1000} s`,
      );
    throw new DriverUnreachableError(
      `cannot reach ${request.service} at ${request.url}: ${describeNetworkError(err)}`,
      { cause: err },
    );
  }
  let body: unknown;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { status: response.status, headers: response.headers, body };
}

/** Parses a reply with its schema; a misfit names the fields instead of crashing later. */
export function parseReply<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const fields = flatten(result.error.issues)
    .slice(0, 3)
    .map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      return `${path.replace(/^\./, '') || '(body)'}: ${issue.message}`;
    });
  throw new DriverReplyError(`${what} answered an unexpected shape: ${fields.join('; ')}`);
}

type Issue = z.core.$ZodIssue;

/**
 * A record that fits neither of a union's shapes (a server, or its down-cell form) is described
 * by the first shape's complaints, which name the field, rather than zod's "Invalid input".
 */
function flatten(issues: readonly Issue[]): { path: PropertyKey[]; message: string }[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || !issue.errors[0]?.length) return [issue];
    return flatten(issue.errors[0]).map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }));
  });
}

/** The human message inside a Nova fault or Keystone error body, or the text itself. */
export function errorMessage(body: unknown): string {
  const keystone = keystoneErrorSchema.safeParse(body);
  if (keystone.success) return keystone.data.error.message;
  const fault = novaFaultSchema.safeParse(body);
  if (fault.success) {
    const first = Object.values(fault.data)[0];
    if (first) return first.message;
  }
  if (typeof body === 'string') return body.trim().slice(0, 300);
  return 'no explanation given';
}

/**
 * The typed error for a non-2xx answer: 401 auth, 403 forbidden, 404 not found, 406 unsupported
 * microversion, 409 and other 4xx refused; 5xx and 429 refused but retryable.
 */
export function errorForStatus(status: number, what: string, body: unknown): FerryError {
  const message = `${what}: ${status} ${errorMessage(body)}`;
  if (status === 401) return new AuthError(message);
  if (status === 403) return new ForbiddenError(message);
  if (status === 404) return new NotFoundError(message);
  if (status === 406) return new FerryError('UNSUPPORTED', message);
  if (status === 429 || status >= 500) return new DriverRefusedError(message, { retryable: true });
  return new DriverRefusedError(message);
}

function describeNetworkError(err: unknown): string {
  const cause =
    err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
