import type { z } from 'zod';
import type { Clock } from '../../clock.js';
import { AuthError, DriverReplyError, FerryError } from '../../errors.js';
import { compareMicroversions, type NovaConfig } from './config.js';
import { errorForStatus, type Fetch, type HttpResponse, parseReply, send } from './http.js';
import { KeystoneClient } from './keystone.js';
import {
  type ApiVersion,
  availabilityZoneListSchema,
  type Hypervisor,
  hypervisorListSchema,
  type InstanceActionDetail,
  instanceActionDetailSchema,
  instanceActionListSchema,
  type MigrationRecord,
  migrationRecordListSchema,
  type Server,
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
  versionDiscoverySchema,
} from './schemas.js';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface NovaApiOptions {
  config: NovaConfig;
  clock: Clock;
  fetch?: Fetch;
}

/**
 * The Compute API calls ferry makes, one method each, every reply parsed with its schema. Sends
 * the configured microversion on every call, after checking once per session that the cloud
 * supports it; a token Nova refuses (revoked) is renewed once.
 */
export class NovaApi {
  private readonly keystone: KeystoneClient;
  private readonly fetch: Fetch;
  private negotiated?: Promise<void>;

  constructor(private readonly options: NovaApiOptions) {
    this.fetch = options.fetch ?? fetch;
    this.keystone = new KeystoneClient({ config: options.config, clock: options.clock, fetch: this.fetch });
  }

  /** All hypervisors (os-hypervisors/detail, every page). */
  hypervisors(): Promise<Hypervisor[]> {
    return this.pages(
      '/os-hypervisors/detail',
      {},
      hypervisorListSchema,
      (r) => r.hypervisors,
      'hypervisors',
    );
  }

  /** nova-compute services, optionally of one host. */
  async computeServices(host?: string): Promise<Service[]> {
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

  /** Servers of every project (servers/detail?all_tenants=1, every page), with extra filters. */
  servers(filters: Record<string, string> = {}): Promise<Server[]> {
    return this.pages(
      '/servers/detail',
      { all_tenants: '1', ...filters },
      serverListSchema,
      (r) => r.servers,
      'servers',
    );
  }

  async server(serverId: string): Promise<Server> {
    return (await this.call('GET', `/servers/${enc(serverId)}`, serverResponseSchema)).server;
  }

  async serverGroups(): Promise<ServerGroup[]> {
    return (await this.call('GET', '/os-server-groups?all_projects=true', serverGroupListSchema))
      .server_groups;
  }

  /** os-migrateLive (2.68+ body): to `host`, or wherever Nova's scheduler picks when null. */
  async liveMigrate(serverId: string, host: string | null): Promise<void> {
    await this.call('POST', `/servers/${enc(serverId)}/action`, undefined, {
      'os-migrateLive': { host, block_migration: 'auto' },
    });
  }

  /** The server's in-progress live migrations. */
  async serverMigrations(serverId: string): Promise<ServerMigration[]> {
    return (await this.call('GET', `/servers/${enc(serverId)}/migrations`, serverMigrationListSchema))
      .migrations;
  }

  /** One in-progress live migration; NotFoundError once it is over (or never was). */
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

  /** Every live migration of a server, any status (os-migrations), newest first. */
  async liveMigrationHistory(serverId: string): Promise<MigrationRecord[]> {
    const query = new URLSearchParams({ instance_uuid: serverId, migration_type: 'live-migration' });
    const reply = await this.call('GET', `/os-migrations?${query}`, migrationRecordListSchema);
    return reply.migrations.filter((m) => m.instance_uuid === serverId).sort((a, b) => b.id - a.id);
  }

  /** The newest instance action named `action`, with its events, or undefined. */
  async latestAction(serverId: string, action: string): Promise<InstanceActionDetail | undefined> {
    const list = await this.call(
      'GET',
      `/servers/${enc(serverId)}/os-instance-actions`,
      instanceActionListSchema,
    );
    const latest = list.instanceActions
      .filter((a) => a.action === action)
      .sort((a, b) => b.start_time.localeCompare(a.start_time))[0];
    if (!latest) return undefined;
    const path = `/servers/${enc(serverId)}/os-instance-actions/${enc(latest.request_id)}`;
    return (await this.call('GET', path, instanceActionDetailSchema)).instanceAction;
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
    let response: HttpResponse | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const session = await this.keystone.session();
      await this.negotiate(session.computeUrl);
      response = await send(this.fetch, {
        method,
        url: session.computeUrl + path,
        headers: { 'X-Auth-Token': session.token, ...this.versionHeaders() },
        body,
        timeoutMs: this.options.config.requestTimeoutS * 1000,
        service: 'Nova',
      });
      if (response.status !== 401) break;
      // A revoked or expired token: issue a new one, once.
      this.keystone.invalidate(session.token);
    }
    if (!response) throw new FerryError('INTERNAL', `${what}: no response`);
    if (response.status === 401) throw new AuthError(`${what}: Nova refused a fresh Keystone token (401)`);
    if (response.status < 200 || response.status > 299)
      throw errorForStatus(response.status, what, response.body);
    const echoed = response.headers.get('openstack-api-version');
    const expected = `compute ${this.options.config.microversion}`;
    if (echoed !== null && echoed.trim() !== expected)
      throw new DriverReplyError(`${what} answered with microversion "${echoed}" instead of "${expected}"`);
    return schema === undefined ? undefined : parseReply(schema, response.body, what);
  }

  /** Follows `{key}_links` rel=next by its marker, against the catalog's compute URL. */
  private async pages<S extends z.ZodType, T>(
    path: string,
    filters: Record<string, string>,
    schema: S,
    items: (reply: z.output<S>) => T[],
    key: string,
  ): Promise<T[]> {
    const all: T[] = [];
    const query = new URLSearchParams(filters);
    for (let page = 0; page < 10_000; page++) {
      const suffix = query.size > 0 ? `?${query}` : '';
      const reply = await this.call('GET', `${path}${suffix}`, schema);
      all.push(...items(reply));
      const links = (reply as Record<string, unknown>)[`${key}_links`] as
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
    const mv = this.options.config.microversion;
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

  private async discover(computeUrl: string): Promise<void> {
    const url = versionRootUrl(computeUrl);
    const response = await send(this.fetch, {
      method: 'GET',
      url,
      timeoutMs: this.options.config.requestTimeoutS * 1000,
      service: 'Nova',
    });
    if (response.status < 200 || response.status > 299)
      throw errorForStatus(response.status, `Nova version discovery GET ${url}`, response.body);
    const reply = parseReply(versionDiscoverySchema, response.body, `Nova version discovery GET ${url}`);
    const version: ApiVersion | undefined =
      'version' in reply ? reply.version : reply.versions.find((v) => v.id === 'v2.1');
    const wanted = this.options.config.microversion;
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
          `ferry needs ${wanted} (live-migration progress and host-targeted os-migrateLive): ` +
          'upgrade Nova (Train or later) or use another driver',
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
