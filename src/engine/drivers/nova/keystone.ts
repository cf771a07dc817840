import type { Clock } from '../../clock.js';
import { AuthError, ConfigError, DriverReplyError } from '../../errors.js';
import type { NovaAuth, NovaConfig } from './config.js';
import { errorForStatus, errorMessage, type Fetch, parseReply, send } from './http.js';
import { type CatalogEndpoint, type TokenResponse, tokenResponseSchema } from './schemas.js';

/** A Keystone token and the compute (and placement) endpoints its catalog names. */
export interface ComputeSession {
  token: string;
  computeUrl: string;
  /** Absent when the catalog lists no placement service (needed at microversion 2.88+ only). */
  placementUrl?: string;
  /** Epoch ms, from Keystone's expires_at. */
  expiresAt: number;
}

export interface KeystoneOptions {
  config: NovaConfig;
  clock: Clock;
  fetch: Fetch;
}

/**
 * Keystone v3 sessions: issues a token, reuses it until shortly before it expires, then issues a
 * new one. Concurrent callers share one request. `invalidate` drops a token Nova refused (revoked).
 */
export class KeystoneClient {
  private current?: ComputeSession;
  private renewAt = 0;
  private pending?: Promise<ComputeSession>;

  constructor(private readonly options: KeystoneOptions) {}

  /** A valid token and compute URL, issuing or renewing the token when needed. */
  async session(): Promise<ComputeSession> {
    if (this.current && this.options.clock.now() < this.renewAt) return this.current;
    this.pending ??= this.issue().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Forgets `token` (Nova answered 401 with it), so the next session() issues a new one. */
  invalidate(token: string): void {
    if (this.current?.token === token) this.current = undefined;
  }

  private async issue(): Promise<ComputeSession> {
    const { config, clock } = this.options;
    const url = tokensUrl(config.authUrl);
    const response = await send(this.options.fetch, {
      method: 'POST',
      url,
      body: authRequestBody(config.auth),
      timeoutMs: config.requestTimeoutS * 1000,
      service: 'Keystone',
    });
    if (response.status === 401)
      throw new AuthError(
        `Keystone at ${url} refused the ${config.auth.type} credentials of ${describeIdentity(config.auth)}: ` +
          errorMessage(response.body),
      );
    if (response.status < 200 || response.status > 299)
      throw errorForStatus(response.status, `Keystone POST ${url}`, response.body);
    const token = response.headers.get('x-subject-token');
    if (!token) throw new DriverReplyError(`Keystone at ${url} issued no X-Subject-Token header`);
    const reply = parseReply(tokenResponseSchema, response.body, `Keystone POST ${url}`);
    const expiresAt = parseTimestamp(reply.token.expires_at);
    if (Number.isNaN(expiresAt))
      throw new DriverReplyError(
        `Keystone at ${url}: token.expires_at is not a time: ${reply.token.expires_at}`,
      );
    const computeUrl = findEndpoint(reply.token.catalog, 'compute', config.interface, config.region);
    const placementUrl = hasService(reply.token.catalog, 'placement')
      ? findEndpoint(reply.token.catalog, 'placement', config.interface, config.region)
      : undefined;
    const now = clock.now();
    // Short-lived tokens are renewed half-way rather than right away.
    const margin = Math.min(config.tokenRenewBeforeS * 1000, Math.max(0, expiresAt - now) / 2);
    this.current = { token, computeUrl, placementUrl, expiresAt };
    this.renewAt = expiresAt - margin;
    return this.current;
  }
}

/** `.../v3/auth/tokens`, accepting an auth URL with or without `/v3`. */
export function tokensUrl(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return `${/\/v3$/.test(base) ? base : `${base}/v3`}/auth/tokens`;
}

/** The POST /v3/auth/tokens body for a password or an application credential. */
export function authRequestBody(auth: NovaAuth): unknown {
  if (auth.type === 'password') {
    const user =
      auth.userId !== undefined
        ? { id: auth.userId, password: auth.password }
        : {
            name: auth.username,
            domain: domainRef(auth.userDomainId, auth.userDomainName),
            password: auth.password,
          };
    const scope =
      auth.system !== undefined
        ? { system: { all: true } }
        : auth.projectId !== undefined
          ? { project: { id: auth.projectId } }
          : {
              project: {
                name: auth.projectName,
                domain: domainRef(auth.projectDomainId, auth.projectDomainName),
              },
            };
    return { auth: { identity: { methods: ['password'], password: { user } }, scope } };
  }
  // An application credential carries its own project scope: no scope block.
  const credential =
    auth.id !== undefined
      ? { id: auth.id, secret: auth.secret }
      : {
          name: auth.name,
          secret: auth.secret,
          user:
            auth.userId !== undefined
              ? { id: auth.userId }
              : { name: auth.username, domain: { name: auth.userDomainName } },
        };
  return { auth: { identity: { methods: ['application_credential'], application_credential: credential } } };
}

/** A Keystone domain by id when given, else by name (Keystone's own default domain is "Default"). */
function domainRef(id: string | undefined, name: string | undefined): { id: string } | { name: string } {
  return id !== undefined ? { id } : { name: name ?? 'Default' };
}

/** The endpoint of a service type in the catalog for an interface (and region, when given). */
export function findEndpoint(
  catalog: TokenResponse['token']['catalog'],
  type: 'compute' | 'placement',
  iface: string,
  region: string | undefined,
): string {
  const endpoints = catalog.filter((s) => s.type === type).flatMap((s) => s.endpoints);
  const regionOf = (e: CatalogEndpoint) => e.region_id ?? e.region ?? undefined;
  const match = endpoints.find(
    (e) => e.interface === iface && (region === undefined || regionOf(e) === region),
  );
  if (match) return match.url.replace(/\/+$/, '');
  const seen = endpoints.map((e) => `${e.interface}${regionOf(e) ? ` in ${regionOf(e)}` : ''}`);
  throw new ConfigError(
    `Keystone's catalog has no ${type} endpoint with interface ${iface}` +
      (region ? ` in region ${region}` : '') +
      (seen.length > 0 ? ` (it has: ${seen.join(', ')})` : ` (it lists no ${type} service at all)`) +
      ': check nova.interface and nova.region',
  );
}

function hasService(catalog: TokenResponse['token']['catalog'], type: string): boolean {
  return catalog.some((s) => s.type === type);
}

function describeIdentity(auth: NovaAuth): string {
  if (auth.type === 'password')
    return auth.userId !== undefined
      ? `user id ${auth.userId}`
      : `user ${auth.username} (domain ${auth.userDomainId ?? auth.userDomainName ?? 'Default'})`;
  return auth.id !== undefined ? `application credential ${auth.id}` : `application credential ${auth.name}`;
}

/** Keystone writes microseconds (`...17.893769Z`); some deployments omit the zone (UTC). */
function parseTimestamp(value: string): number {
  const withZone = /(Z|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value}Z`;
  return Date.parse(withZone.replace(/(\.\d{3})\d+/, '$1'));
}
