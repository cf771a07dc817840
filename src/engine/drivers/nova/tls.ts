import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { ConfigError } from '../../errors.js';
import type { Fetch } from './http.js';

/**
 * A fetch that trusts a private CA bundle besides the system's. Node's global fetch takes no
 * CA option (only the process-wide NODE_EXTRA_CA_CERTS), so this speaks HTTP/1.1 through
 * node:https with `ca`; it implements what send() uses: method, headers, a string body, a signal.
 */
export function fetchTrusting(caFile: string): Fetch {
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`nova.caFile ${caFile} cannot be read: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new ConfigError(`nova.caFile ${caFile} holds no PEM certificate`);
  const ca = [...rootCertificates, pem];
  const trusting = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason);
      const req = request(
        url,
        {
          method: init.method ?? 'GET',
          headers: Object.fromEntries(new Headers(init.headers).entries()),
          ...(url.protocol === 'https:' && { ca }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const headers = new Headers();
            for (const [name, value] of Object.entries(res.headers))
              for (const v of Array.isArray(value) ? value : [value])
                if (v !== undefined) headers.append(name, v);
            const status = res.statusCode ?? 0;
            const empty = status === 204 || status === 304 || chunks.length === 0;
            resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers }));
          });
        },
      );
      // fetch's own shape for network failures, so send() reports them the same way.
      req.on('error', (err) =>
        reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err })),
      );
      signal?.addEventListener('abort', () => req.destroy(signal.reason), { once: true });
      if (typeof init.body === 'string') req.write(init.body);
      req.end();
    });
  };
  return trusting as Fetch;
}
