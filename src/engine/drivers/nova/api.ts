import type { z } from 'zod';
import type { Clock } from '../../clock.js';
import { AuthError, ConfigError, DriverReplyError, FerryError } from '../../errors.js';
import { compareMicroversions, MAX_MICROVERSION, MIN_MICROVERSION, type NovaConfig } from './config.js';
import { errorForStatus, type Fetch, type HttpResponse, parseReply, send } from './http.js';
import { type ComputeSession, KeystoneClient } from './keystone.js';
import {
  type AnyServer,
  type AnyService,
  type ApiVersion,
  availabilityZoneListSchema,
  type Hypervisor,
  hypervisorListSchema,
  type InstanceActionDetail,
  type Inventory,
  instanceActionDetailSchema,
  instanceActionListSchema,
  inventoriesSchema,
  type MigrationRecord,
  migrationRecordListSchema,
  type ServerGroup,
  type ServerMigration,
  type Service,
  serverGroupListSchema,
  serverListSchema,
  serverMigrationListSchema,
  serverMigrationResponseSchema,
  serverResponseSchema,
  serviceListSchema,
  serviceResponseSchema,
  usagesSchema,
  versionDiscoverySchema,
} from './schemas.js';
import { fetchTrusting } from './tls.js';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface NovaApiOptions {
  config: NovaConfig;
  clock: Clock;
  /** Injectable for tests; otherwise the global fetch, or one trusting `config.caFile`. */
  fetch?: Fetch;
}

/** Page size ferry asks for; Nova caps it at its osapi_max_limit (1000 by default). */
const PAGE = 1000;
/** No listing of a real cloud needs more pages; a cloud that never stops is a bug, not a fleet. */
const MAX_PAGES = 10_000;

/**
 * The Compute and Placement API calls ferry makes, one method each, every reply parsed with its
 * schema. Sends the configured microversion on every Compute call, after checking once per
 * session that the cloud supports it; a token Nova refuses (revoked) is renewed once.
 */
export class NovaApi {
  private readonly keystone: KeystoneClient;
  private readonly fetch: Fetch;
  private negotiated?: Promise<void>;

  constructor(private readonly options: NovaApiOptions) {
    const { caFile } = options.config;
    this.fetch = options.fetch ?? (caFile !== undefined ? fetchTrusting(caFile) : fetch);
    this.keystone = new KeystoneClient({ config: options.config, clock: options.clock, fetch: this.fetch });
  }

  get microversion(): string {
    return this.options.config.microversion;
  }

  /** All hypervisors (os-hypervisors/detail, every page). */
  hypervisors(): Promise<Hypervisor[]> {
    return this.pages(
      '/os-hypervisors/detail',
      {},
      hypervisorListSchema,
      (r) => r.hypervisors,
      'hypervisors_links',
    );
  }

  /** nova-compute services, optionally of one host; a down cell's come as `UNKNOWN` (2.69+). */
  async computeServices(host?: string): Promise<AnyService[]> {
    const query = new URLSearchParams({ binary: 'nova-compute' });
    if (host !== undefined) query.set('host', host);
    return (await this.call('GET', `/os-services?${query}`, serviceListSchema)).services;
  }

  /** PUT /os-services/{id} (2.53+): enable, or disable with a reason. */
  async updateService(
    serviceId: string,
    change: { status: 'enabled' } | { status: 'disabled'; disabled_reason: string },
  ): Promise<Service> {
    return (await this.call('PUT', `/os-services/${enc(serviceId)}`, serviceResponseSchema, change)).service;
  }

  /** Compute host name -> availability zone (os-availability-zone/detail). */
  async hostZones(): Promise<Map<string, string>> {
    const reply = await this.call('GET', '/os-availability-zone/detail', availabilityZoneListSchema);
    const zones = new Map<string, string>();
    for (const zone of reply.availabilityZoneInfo)
      for (const [host, services] of Object.entries(zone.hosts ?? {}))
        if ('nova-compute' in services) zones.set(host, zone.zoneName);
    return zones;
  }

  /**
   * Servers of every project (servers/detail?all_tenants=1, every page), with extra filters.
   * At 2.69+ a down cell's servers come as `UNKNOWN` records whatever the filters.
   */
  servers(filters: Record<string, string> = {}): Promise<AnyServer[]> {
    return this.pages(
      '/servers/detail',
      { all_tenants: '1', ...filters },
      serverListSchema,
      (r) => r.servers,
      'servers_links',
    );
  }

  async server(serverId: string): Promise<AnyServer> {
    return (await this.call('GET', `/servers/${enc(serverId)}`, serverResponseSchema)).server;
  }

  /** Every server group of every project: os-server-groups pages by offset and gives no links. */
  async serverGroups(): Promise<ServerGroup[]> {
    const all: ServerGroup[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = new URLSearchParams({
        all_projects: 'true',
        limit: String(PAGE),
        offset: String(all.length),
      });
      const groups = (await this.call('GET', `/os-server-groups?${query}`, serverGroupListSchema))
        .server_groups;
      // Nova may cap the page below PAGE (osapi_max_limit): only an empty page is the end.
      if (groups.length === 0) return all;
      all.push(...groups);
    }
    throw new DriverReplyError('Nova GET /os-server-groups: pagination never ended');
  }

  /** os-migrateLive (2.68+ body): to `host`, or wherever Nova's scheduler picks when null. */
  async liveMigrate(serverId: string, host: string | null): Promise<void> {
    await this.call('POST', `/servers/${enc(serverId)}/action`, undefined, {
      'os-migrateLive': { host, block_migration: 'auto' },
    });
  }

  /** The server's live migrations Nova calls in progress (queued, preparing, running, post-migrating). */
  async serverMigrations(serverId: string): Promise<ServerMigration[]> {
    return (await this.call('GET', `/servers/${enc(serverId)}/migrations`, serverMigrationListSchema))
      .migrations;
  }

  /** One of those, with byte counters; NotFoundError in any other status (accepted, post-copy, over). */
  async serverMigration(serverId: string, migrationId: number): Promise<ServerMigration> {
    const path = `/servers/${enc(serverId)}/migrations/${migrationId}`;
    return (await this.call('GET', path, serverMigrationResponseSchema)).migration;
  }

  async forceComplete(serverId: string, migrationId: number): Promise<void> {
    const path = `/servers/${enc(serverId)}/migrations/${migrationId}/action`;
    await this.call('POST', path, undefined, { force_complete: null });
  }

  async abortMigration(serverId: string, migrationId: number): Promise<void> {
    await this.call('DELETE', `/servers/${enc(serverId)}/migrations/${migrationId}`, undefined);
  }

  /** Every live migration of a server, any status (os-migrations, every page), newest first. */
  async liveMigrationHistory(serverId: string): Promise<MigrationRecord[]> {
    const filters = { instance_uuid: serverId, migration_type: 'live-migration' };
    const all = await this.pages(
      '/os-migrations',
      filters,
      migrationRecordListSchema,
      (r) => r.migrations,
      'migrations_links',
    );
    return all.filter((m) => m.instance_uuid === serverId).sort((a, b) => b.id - a.id);
  }

  /** The newest instance action named `action`, with its events, or undefined. */
  async latestAction(serverId: string, action: string): Promise<InstanceActionDetail | undefined> {
    const list = await this.pages(
      `/servers/${enc(serverId)}/os-instance-actions`,
      {},
      instanceActionListSchema,
      (r) => r.instanceActions,
      'links',
    );
    const latest = list
      .filter((a) => a.action === action)
      .sort((a, b) => b.start_time.localeCompare(a.start_time))[0];
    if (!latest) return undefined;
    const path = `/servers/${enc(serverId)}/os-instance-actions/${enc(latest.request_id)}`;
    return (await this.call('GET', path, instanceActionDetailSchema)).instanceAction;
  }

  /**
   * A compute node's capacity from Placement (its resource provider has the node's UUID, the
   * hypervisor id at 2.53+): inventories per resource class and the sum of allocations.
   */
  async resourceProvider(
    uuid: string,
  ): Promise<{ inventories: Record<string, Inventory>; usages: Record<string, number> }> {
    const base = `/resource_providers/${enc(uuid)}`;
    const [inventories, usages] = await Promise.all([
      this.placement(`${base}/inventories`, inventoriesSchema),
      this.placement(`${base}/usages`, usagesSchema),
    ]);
    return { inventories: inventories.inventories, usages: usages.usages };
  }

  // ------------------------------------------------------------------------------------------

  private async call<S extends z.ZodType>(
    method: Method,
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.output<S>>;
  private async call(method: Method, path: string, schema: undefined, body?: unknown): Promise<undefined>;
  private async call(
    method: Method,
    path: string,
    schema: z.ZodType | undefined,
    body?: unknown,
  ): Promise<unknown> {
    const what = `Nova ${method} ${path.split('?')[0]}`;
    const response = await this.authorized(what, async (session) => {
      await this.negotiate(session.computeUrl);
      return send(this.fetch, {
        method,
        url: session.computeUrl + path,
        headers: { 'X-Auth-Token': session.token, ...this.versionHeaders() },
        body,
        timeoutMs: this.options.config.requestTimeoutS * 1000,
        service: 'Nova',
      });
    });
    const echoed = response.headers.get('openstack-api-version');
    const expected = `compute ${this.microversion}`;
    if (echoed !== null && echoed.trim() !== expected)
      throw new DriverReplyError(`${what} answered with microversion "${echoed}" instead of "${expected}"`);
    return schema === undefined ? undefined : parseReply(schema, response.body, what);
  }

  /** GET on Placement (its 1.0 shapes: inventories and usages have not changed since). */
  private async placement<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    const what = `Placement GET ${path}`;
    const response = await this.authorized(what, (session) => {
      if (!session.placementUrl)
        throw new ConfigError(
          `at microversion ${this.microversion} Nova reports no host capacity and Keystone's catalog lists ` +
            'no placement service: ferry reads capacity from Placement from 2.88 on (or set nova.microversion to 2.87)',
        );
      return send(this.fetch, {
        method: 'GET',
        url: session.placementUrl + path,
        headers: { 'X-Auth-Token': session.token },
        timeoutMs: this.options.config.requestTimeoutS * 1000,
        service: 'Placement',
      });
    });
    return parseReply(schema, response.body, what);
  }

  /** Sends with a session's token; a 401 renews the token once; non-2xx is a typed error. */
  private async authorized(
    what: string,
    exchange: (session: ComputeSession) => Promise<HttpResponse>,
  ): Promise<HttpResponse> {
    let response: HttpResponse | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const session = await this.keystone.session();
      response = await exchange(session);
      if (response.status !== 401) break;
      // A revoked or expired token: issue a new one, once.
      this.keystone.invalidate(session.token);
    }
    if (!response) throw new FerryError('INTERNAL', `${what}: no response`);
    if (response.status === 401) throw new AuthError(`${what}: refused a fresh Keystone token (401)`);
    if (response.status < 200 || response.status > 299)
      throw errorForStatus(response.status, what, response.body);
    return response;
  }

  /** Follows rel=next links by their marker, against the catalog's compute URL. */
  private async pages<S extends z.ZodType, T>(
    path: string,
    filters: Record<string, string>,
    schema: S,
    items: (reply: z.output<S>) => T[],
    linksKey: string,
  ): Promise<T[]> {
    const all: T[] = [];
    const query = new URLSearchParams(filters);
    for (let page = 0; page < MAX_PAGES; page++) {
      const suffix = query.size > 0 ? `?${query}` : '';
      const reply = await this.call('GET', `${path}${suffix}`, schema);
      all.push(...items(reply));
      const links = (reply as Record<string, unknown>)[linksKey] as
        | { href: string; rel: string }[]
        | undefined;
      const next = links?.find((l) => l.rel === 'next');
      const marker = next ? new URL(next.href, 'http://x').searchParams.get('marker') : null;
      if (!marker) return all;
      query.set('marker', marker);
    }
    throw new DriverReplyError(`Nova GET ${path}: pagination never ended`);
  }

  private versionHeaders(): Record<string, string> {
    const mv = this.microversion;
    return { 'OpenStack-API-Version': `compute ${mv}`, 'X-OpenStack-Nova-API-Version': mv };
  }

  /** Version discovery, once: the cloud must support the configured microversion. */
  private negotiate(computeUrl: string): Promise<void> {
    this.negotiated ??= this.discover(computeUrl).catch((err: unknown) => {
      this.negotiated = undefined;
      throw err;
    });
    return this.negotiated;
  }

  /**
   * The v2.1 API's version document (its `min_version` and `version`, the newest microversion),
   * or undefined when the cloud has no v2.1; of the session's compute endpoint unless given one.
   */
  async apiVersion(computeUrl?: string): Promise<{ url: string; version?: ApiVersion }> {
    const url = versionRootUrl(computeUrl ?? (await this.keystone.session()).computeUrl);
    const response = await send(this.fetch, {
      method: 'GET',
      url,
      timeoutMs: this.options.config.requestTimeoutS * 1000,
      service: 'Nova',
    });
    if (response.status < 200 || response.status > 299)
      throw errorForStatus(response.status, `Nova version discovery GET ${url}`, response.body);
    const reply = parseReply(versionDiscoverySchema, response.body, `Nova version discovery GET ${url}`);
    return { url, version: 'version' in reply ? reply.version : reply.versions.find((v) => v.id === 'v2.1') };
  }

  /**
   * One authorized GET (Compute, or Placement with `placement`) whose 4xx answer is returned, not
   * thrown: `ferry check` tries each policy rule with a harmless read and reads the status.
   */
  async probe(path: string, options: { placement?: boolean } = {}): Promise<HttpResponse> {
    const session = await this.keystone.session();
    if (!options.placement) await this.negotiate(session.computeUrl);
    const base = options.placement ? session.placementUrl : session.computeUrl;
    if (!base) throw new ConfigError("Keystone's catalog lists no placement service");
    return send(this.fetch, {
      method: 'GET',
      url: base + path,
      headers: { 'X-Auth-Token': session.token, ...(options.placement ? {} : this.versionHeaders()) },
      timeoutMs: this.options.config.requestTimeoutS * 1000,
      service: options.placement ? 'Placement' : 'Nova',
    });
  }

  private async discover(computeUrl: string): Promise<void> {
    const { url, version } = await this.apiVersion(computeUrl);
    const wanted = this.microversion;
    if (!version || version.version === '')
      throw new FerryError(
        'UNSUPPORTED',
        `the Compute API at ${url} offers no microversions (v2.1 missing); ferry needs microversion ${wanted}`,
      );
    if (
      compareMicroversions(version.version, wanted) < 0 ||
      compareMicroversions(version.min_version, wanted) > 0
    )
      throw new FerryError(
        'UNSUPPORTED',
        `the Compute API at ${url} supports microversions ${version.min_version} to ${version.version}; ` +
          `ferry needs ${wanted} (nova.microversion; ferry speaks ${MIN_MICROVERSION}, first shipped in Ussuri, ` +
          `to ${MAX_MICROVERSION}): upgrade Nova (Ussuri or later) or set nova.microversion within the cloud's range`,
      );
  }
}

/** The version document's URL: the endpoint cut after `/v2.1` (dropping a project id). */
export function versionRootUrl(computeUrl: string): string {
  const match = /^(.*?\/v2(?:\.1)?)(?:\/|$)/.exec(computeUrl);
  return `${match ? match[1] : computeUrl.replace(/\/+$/, '')}/`;
}

function enc(part: string): string {
  return encodeURIComponent(part);
}
