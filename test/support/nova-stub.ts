import { randomUUID } from 'node:crypto';
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type NovaConfig, novaConfigSchema } from '../../src/engine/drivers/nova/config.js';
import {
  faultBody,
  HttpError,
  invalidMigrationState,
  invalidState,
  keystoneError,
  placementError,
} from './nova-stub/faults.js';
import {
  advanceMigration,
  countersOf,
  type Failure,
  failMigration,
  forceComplete,
  MiB,
  type MigrationStatus,
  type ModelHooks,
  type ModelSettings,
  SHOWN_IN_PROGRESS,
  type StubAction,
  type StubHost,
  type StubMigration,
  type StubServer,
  UNDER_WAY,
  type VmState,
} from './nova-stub/model.js';
import { computeRules, enforce, placementRule, withoutDeniedFields } from './nova-stub/policy.js';
import {
  actionJson,
  compareVersions,
  downCellServerJson,
  downCellServiceJson,
  groupJson,
  hypervisorJson,
  migrationRecordJson,
  novaTime,
  PROJECT_ID,
  serverJson,
  serverMigrationJson,
  serverStatus,
  serviceJson,
  since,
  USER_ID,
  versionDoc,
} from './nova-stub/shapes.js';

/**
 * A Nova + Keystone + Placement stand-in on loopback for tests, following Nova per
 * microversion (2.1 up to `maxMicroversion`, default 2.104 like the reference samples' Nova):
 * replies change with the requested microversion (nova-stub/shapes.ts), migrations follow Nova's
 * lifecycle (nova-stub/model.ts), vm_state/task_state rules answer 409 as Nova does, listings
 * page with limit/marker and links (server groups by limit/offset), a cell can be taken down
 * (2.69+ `UNKNOWN` records), errors carry Nova's fault bodies and version headers. Real clients
 * (openstacksdk, novaclient) are run against it in test/engine/drivers/nova/clients.test.ts.
 *
 *   stub time = wall time x speedUp + advance(ms) offsets
 *
 * Typical use:
 *   const stub = await NovaStub.start({ hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }],
 *     servers: serversOn('cmp-1', 10) });
 *   const driver = new NovaDriver({ config: novaTestConfig(stub), clock: systemClock });
 *   stub.failNext({ method: 'POST', path: /\/action$/, action: 'os-migrateLive', status: 500 });
 *   stub.failMigration('vm-3', { stuck: true });   // failed, server left in MIGRATING
 *   stub.takeCellDown('cell2');                      // its hosts and servers turn UNKNOWN
 *   stub.advance(60_000);                            // a minute of stub time passes at once
 */

export interface StubHostSpec {
  /** The nova-compute service host (ferry's host name). */
  name: string;
  vcpus?: number;
  memoryMb?: number;
  cpuModel?: string;
  az?: string;
  disabled?: boolean;
  disabledReason?: string;
  /** nova-compute is down (state "down"). */
  down?: boolean;
  /** The cell whose database holds the host and its servers (default cell1). */
  cell?: string;
  /** Placement inventory: nova.conf's initial allocation ratios and reserved memory. */
  cpuAllocationRatio?: number;
  ramAllocationRatio?: number;
  reservedHostMemoryMb?: number;
}

export interface StubServerSpec {
  name: string;
  host: string;
  id?: string;
  vcpus?: number;
  ramMb?: number;
  /** ACTIVE (default), PAUSED, SHUTOFF, SUSPENDED, ERROR or SHELVED_OFFLOADED. */
  status?: string;
  taskState?: string | null;
  /** Name of a server group from `groups`. */
  group?: string;
  /** Guest page-dirtying rate while it runs, bytes/s (default 8 MiB/s; a PAUSED guest dirties none). */
  dirtyBytesPerS?: number;
}

export interface StubGroupSpec {
  name: string;
  policy?: 'anti-affinity' | 'affinity' | 'soft-anti-affinity' | 'soft-affinity';
}

export interface NovaStubOptions {
  hosts: StubHostSpec[];
  servers?: StubServerSpec[];
  groups?: StubGroupSpec[];
  /** Password user (default ferry / s3cret in domain Default, project ops). */
  user?: { name: string; password: string; domain?: string; project?: string };
  /** Application credential (default id app-cred-1, name ferry-app, secret app-s3cret). */
  applicationCredential?: { id: string; name: string; secret: string };
  region?: string;
  /** Interfaces of the compute endpoint in the catalog (default all three); [] = no compute service. */
  computeInterfaces?: ('public' | 'internal' | 'admin')[];
  /** The catalog lists Placement (default true). */
  placement?: boolean;
  /** Highest microversion the cloud supports (default 2.104, the reference samples' Nova). */
  maxMicroversion?: string;
  tokenTtlS?: number;
  /** Each migration's stream, bytes/s (default 1 GiB/s). */
  bandwidthBytesPerS?: number;
  /** Stub time runs this many times faster than the wall clock (default 1). */
  speedUp?: number;
  /** Stub time from os-migrateLive to the first byte (accepted, queued, preparing), ms (default 400). */
  setupMs?: number;
  /** nova.conf live_migration_permit_post_copy on the computes (default false, as in Nova). */
  permitPostCopy?: boolean;
  /** Nova's osapi_max_limit: the largest page of any listing (default 1000). */
  pageSize?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
}

export interface FaultSpec {
  method: string;
  /** Tested against the path after the service prefix, e.g. `/servers/{id}/action`, with query. */
  path: RegExp;
  status: number;
  /** For POST .../action: the body's action key (`os-migrateLive`, `force_complete`). */
  action?: string;
  times?: number;
}

export interface MutationSpec {
  method: string;
  path: RegExp;
  /** Changes the JSON body about to be sent (to test replies of an unexpected shape). */
  mutate: (body: Record<string, unknown>) => void;
  times?: number;
}

export interface StubCall {
  method: string;
  /** Path after the service prefix (`/servers/...`, `/auth/tokens`), query included. */
  path: string;
  service: 'keystone' | 'compute' | 'placement';
  action?: string;
  microversion?: string;
  /** The parsed JSON body, if any. */
  body?: unknown;
}

interface StubGroup {
  id: string;
  name: string;
  policy: string;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const GiB = 1024 ** 3;
const DEFAULT_MAX = '2.104';
const VM_STATES: Record<string, VmState> = {
  ACTIVE: 'active',
  PAUSED: 'paused',
  SHUTOFF: 'stopped',
  SUSPENDED: 'suspended',
  ERROR: 'error',
  SHELVED_OFFLOADED: 'shelved_offloaded',
};

export class NovaStub {
  readonly calls: StubCall[] = [];
  tokensIssued = 0;
  private http!: HttpServer;
  private base = '';
  private readonly wallStart = Date.now();
  private readonly stubStart = Date.now();
  private offsetMs = 0;
  private readonly hosts = new Map<string, StubHost>();
  private readonly servers = new Map<string, StubServer>();
  private readonly groups = new Map<string, StubGroup>();
  private readonly migrations: StubMigration[] = [];
  private readonly actions = new Map<string, StubAction[]>();
  private readonly tokens = new Map<string, { expiresAt: number; system: boolean }>();
  private readonly faults: (FaultSpec & { left: number })[] = [];
  private readonly mutations: (MutationSpec & { left: number })[] = [];
  private readonly armed = new Map<string, Failure>();
  private readonly downCells = new Set<string>();
  private readonly denied = new Set<string>();
  private nextMigrationId = 1;
  private readonly hooks: ModelHooks;

  private constructor(private readonly options: NovaStubOptions) {
    for (const g of options.groups ?? [])
      this.groups.set(g.name, { id: randomUUID(), name: g.name, policy: g.policy ?? 'anti-affinity' });
    for (const h of options.hosts)
      this.hosts.set(h.name, {
        name: h.name,
        hypervisorId: randomUUID(),
        serviceId: randomUUID(),
        vcpus: h.vcpus ?? 64,
        memoryMb: h.memoryMb ?? 256 * 1024,
        cpuModel: h.cpuModel ?? 'Cascadelake-Server',
        az: h.az ?? 'nova',
        status: h.disabled ? 'disabled' : 'enabled',
        disabledReason: h.disabled ? (h.disabledReason ?? 'disabled by the test') : null,
        state: h.down ? 'down' : 'up',
        cell: h.cell ?? 'cell1',
        cpuAllocationRatio: h.cpuAllocationRatio ?? 4.0,
        ramAllocationRatio: h.ramAllocationRatio ?? 1.0,
        reservedHostMemoryMb: h.reservedHostMemoryMb ?? 512,
      });
    for (const s of options.servers ?? []) {
      if (!this.hosts.has(s.host)) throw new Error(`stub server ${s.name}: unknown host ${s.host}`);
      const group = s.group === undefined ? undefined : this.groups.get(s.group);
      if (s.group !== undefined && !group) throw new Error(`stub server ${s.name}: unknown group ${s.group}`);
      const vmState = VM_STATES[s.status ?? 'ACTIVE'];
      if (!vmState) throw new Error(`stub server ${s.name}: unknown status ${s.status}`);
      const id = s.id ?? randomUUID();
      this.servers.set(id, {
        id,
        name: s.name,
        host: s.host,
        vcpus: s.vcpus ?? 2,
        ramMb: s.ramMb ?? 4096,
        vmState,
        taskState: s.taskState ?? null,
        groupId: group?.id,
        dirtyBytesPerS: s.dirtyBytesPerS ?? 8 * MiB,
        createdAt: this.stubStart,
      });
    }
    this.hooks = {
      server: (id) => this.servers.get(id)!,
      armed: (serverId) => {
        const armed = this.armed.get(serverId);
        this.armed.delete(serverId);
        return armed;
      },
      event: (m, name, result, at, traceback) =>
        this.actionOf(m)?.events.push(event(name, result, at, m.source, traceback ?? null)),
    };
  }

  /** Starts the stub on a free loopback port (HTTPS with `tls`). */
  static async start(options: NovaStubOptions): Promise<NovaStub> {
    const stub = new NovaStub(options);
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      stub.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(faultBody(500, String(err))));
      });
    };
    stub.http = options.tls ? createTlsServer(options.tls, handler) : createServer(handler);
    await new Promise<void>((resolve) => stub.http.listen(0, '127.0.0.1', resolve));
    const scheme = options.tls ? 'https' : 'http';
    stub.base = `${scheme}://127.0.0.1:${(stub.http.address() as AddressInfo).port}`;
    return stub;
  }

  /** Keystone v3 URL for `nova.authUrl`. */
  get authUrl(): string {
    return `${this.base}/identity/v3`;
  }

  /** The compute endpoint the catalog lists. */
  get computeUrl(): string {
    return `${this.base}/compute/v2.1`;
  }

  get placementUrl(): string {
    return `${this.base}/placement`;
  }

  /** Stub time, epoch ms. */
  now(): number {
    return this.stubStart + (Date.now() - this.wallStart) * (this.options.speedUp ?? 1) + this.offsetMs;
  }

  /** Moves stub time forward at once (migrations progress; tokens age). */
  advance(ms: number): void {
    this.offsetMs += ms;
  }

  /** The next `times` (default 1) calls matching answer `status` with Nova's fault body. */
  failNext(fault: FaultSpec): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  /** The next `times` (default 1) JSON replies matching are changed by `mutate` before sending. */
  mutateNext(mutation: MutationSpec): void {
    this.mutations.push({ ...mutation, left: mutation.times ?? 1 });
  }

  /**
   * The server's live migration fails in libvirt (now, or when the next one starts running):
   * Nova rolls back and writes `failed`. With `stuck`, the server is left in MIGRATING
   * (task_state migrating), the classic state operators must reset.
   */
  failMigration(serverName: string, options: { stuck?: boolean; cause?: string } = {}): void {
    const server = this.serverByName(serverName);
    const failure = {
      stuck: options.stuck ?? false,
      cause:
        options.cause ?? 'libvirt.libvirtError: operation failed: migration out job: unexpectedly failed',
    };
    this.tick();
    const running = this.migrations.find(
      (m) => m.serverId === server.id && (m.status === 'running' || m.status === 'running (post-copy)'),
    );
    if (running) failMigration(running, failure, this.now(), this.hooks);
    else this.armed.set(server.id, failure);
  }

  /** A cell's database stops answering: its hosts and servers turn UNKNOWN (2.69+) or vanish. */
  takeCellDown(cell: string): void {
    this.downCells.add(cell);
  }

  bringCellUp(cell: string): void {
    this.downCells.delete(cell);
  }

  /**
   * The ferry user's role loses these policy rules (`os_compute_api:...`, `placement:...`): a
   * fatal rule answers 403 as Nova does, a non-fatal one drops its fields (see nova-stub/policy.ts).
   */
  denyPolicy(...rules: string[]): void {
    for (const rule of rules) this.denied.add(rule);
  }

  /** Every token issued so far stops working (Nova answers 401). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  /** A snapshot of one server, by name. */
  server(name: string): {
    id: string;
    host: string;
    status: string;
    vmState: string;
    taskState: string | null;
  } {
    this.tick();
    const s = this.serverByName(name);
    return {
      id: s.id,
      host: s.host,
      status: serverStatus(s.vmState, s.taskState),
      vmState: s.vmState,
      taskState: s.taskState,
    };
  }

  /** The nova-compute service of a host. */
  service(host: string): { status: 'enabled' | 'disabled'; disabledReason: string | null } {
    const h = this.hosts.get(host);
    if (!h) throw new Error(`no stub host ${host}`);
    return { status: h.status, disabledReason: h.disabledReason };
  }

  /** Migrations of a server (by name), oldest first. */
  migrationsOf(name: string): { id: number; status: MigrationStatus; source: string; dest: string | null }[] {
    this.tick();
    const server = this.serverByName(name);
    return this.migrations
      .filter((m) => m.serverId === server.id)
      .map((m) => ({ id: m.id, status: m.status, source: m.source, dest: m.dest }));
  }

  /** How many calls matched. */
  count(method: string, path: RegExp, action?: string): number {
    return this.calls.filter(
      (c) => c.method === method && path.test(c.path) && (action === undefined || c.action === action),
    ).length;
  }

  async close(): Promise<void> {
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  // --- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    const raw = await readBody(req);
    let body: unknown;
    try {
      body = raw.length > 0 ? JSON.parse(raw) : undefined;
    } catch {
      return this.send(res, 400, faultBody(400, 'Malformed request body'));
    }
    const method = req.method ?? 'GET';
    const service = url.pathname.startsWith('/identity')
      ? 'keystone'
      : url.pathname.startsWith('/placement')
        ? 'placement'
        : 'compute';
    const prefix = { keystone: '/identity/v3', placement: '/placement', compute: '/compute/v2.1' }[service];
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) || '/' : url.pathname;
    const action = body && typeof body === 'object' ? Object.keys(body)[0] : undefined;
    const max = this.options.maxMicroversion ?? DEFAULT_MAX;
    const requested = parseMicroversion(req);
    this.calls.push({ method, path: path + url.search, service, action, microversion: requested, body });
    this.tick();

    // Nova (like every microversioned service) answers with the version it served, errors too;
    // a version it cannot serve gets a 406 without them.
    const versioned = service === 'compute' && url.pathname.startsWith('/compute/v2.1/') && path !== '/';
    let mv = '2.1';
    const headers: Record<string, string> = {};
    try {
      if (versioned) {
        mv = requested === 'latest' ? max : (requested ?? '2.1');
        if (compareVersions(mv, max) > 0 || compareVersions(mv, '2.1') < 0)
          throw new HttpError(
            406,
            `Version ${mv} is not supported by the API. Minimum is 2.1 and maximum is ${max}.`,
          );
        Object.assign(headers, {
          'OpenStack-API-Version': `compute ${mv}`,
          'X-OpenStack-Nova-API-Version': mv,
          Vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version',
        });
      }
      const fault = this.faults.find(
        (f) =>
          f.left > 0 &&
          f.method === method &&
          f.path.test(path + url.search) &&
          (f.action === undefined || f.action === action),
      );
      if (fault) {
        fault.left -= 1;
        throw new HttpError(fault.status, 'injected by the test');
      }
      const reply =
        service === 'keystone'
          ? this.keystone(method, path, body)
          : service === 'placement'
            ? this.placement(req, method, path)
            : this.compute(req, method, path, url.searchParams, body, mv);
      let replyBody = reply.body;
      const mutation = this.mutations.find(
        (m) => m.left > 0 && m.method === method && m.path.test(path + url.search),
      );
      if (mutation && replyBody && typeof replyBody === 'object') {
        mutation.left -= 1;
        replyBody = structuredClone(replyBody);
        mutation.mutate(replyBody as Record<string, unknown>);
      }
      this.send(res, reply.status, replyBody, { ...headers, ...reply.headers });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      const errorBody =
        service === 'keystone' || err.status === 401
          ? keystoneError(err.status, err.message)
          : service === 'placement'
            ? placementError(err.status, err.message)
            : faultBody(err.status, err.message);
      this.send(res, err.status, errorBody, err.status === 406 ? {} : headers);
    }
  }

  private send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { 'Content-Type': 'application/json' } : {}), ...headers });
    res.end(text);
  }

  // --- Keystone ------------------------------------------------------------------------------

  private keystone(method: string, path: string, body: unknown): Reply {
    if (method === 'GET' && path === '/')
      return ok({ version: { id: 'v3.14', status: 'stable', links: [{ rel: 'self', href: this.authUrl }] } });
    if (method !== 'POST' || path !== '/auth/tokens')
      throw new HttpError(404, 'The resource could not be found.');
    const auth = (body as { auth?: { identity?: Record<string, unknown>; scope?: Record<string, unknown> } })
      ?.auth;
    const identity = auth?.identity;
    const methods = identity?.methods;
    const user = this.options.user ?? { name: 'ferry', password: 's3cret' };
    const cred = this.options.applicationCredential ?? {
      id: 'app-cred-1',
      name: 'ferry-app',
      secret: 'app-s3cret',
    };
    const domainMatches = (d: unknown, name: string) => {
      const ref = d as { id?: string; name?: string } | undefined;
      return ref?.name === name || (name === 'Default' && ref?.id === 'default');
    };
    let valid = false;
    let system = false;
    if (Array.isArray(methods) && methods[0] === 'password') {
      const u = (identity?.password as { user?: Record<string, unknown> } | undefined)?.user;
      const scope = auth?.scope as
        | { project?: { name?: string; id?: string; domain?: unknown }; system?: { all?: boolean } }
        | undefined;
      const who =
        u?.id === USER_ID || (u?.name === user.name && domainMatches(u?.domain, user.domain ?? 'Default'));
      const project = scope?.project;
      system = scope?.system?.all === true;
      const scoped =
        system ||
        project?.id === PROJECT_ID ||
        (project?.name === (user.project ?? 'ops') && domainMatches(project?.domain, 'Default'));
      valid = who && u?.password === user.password && scoped;
    } else if (Array.isArray(methods) && methods[0] === 'application_credential') {
      const a = identity?.application_credential as Record<string, unknown> | undefined;
      valid =
        a?.secret === cred.secret && (a?.id === cred.id || (a?.name === cred.name && a?.user !== undefined));
    }
    if (!valid) throw new HttpError(401, 'The request you have made requires authentication.');
    const token = `gAAAA${randomUUID().replaceAll('-', '')}`;
    const expiresAt = this.now() + (this.options.tokenTtlS ?? 3600) * 1000;
    this.tokens.set(token, { expiresAt, system });
    this.tokensIssued += 1;
    return {
      status: 201,
      headers: { 'X-Subject-Token': token },
      body: {
        token: {
          methods,
          user: { domain: { id: 'default', name: 'Default' }, id: USER_ID, name: user.name },
          audit_ids: [randomUUID().slice(0, 22)],
          expires_at: keystoneTime(expiresAt),
          issued_at: keystoneTime(this.now()),
          ...(system
            ? { system: { all: true } }
            : {
                project: {
                  domain: { id: 'default', name: 'Default' },
                  id: PROJECT_ID,
                  name: user.project ?? 'ops',
                },
                is_domain: false,
              }),
          roles: [{ id: randomUUID(), name: 'admin' }],
          catalog: this.catalog(),
        },
      },
    };
  }

  private catalog(): unknown[] {
    const region = this.options.region ?? 'RegionOne';
    const entry = (type: string, name: string, url: string, interfaces: string[]) => ({
      type,
      name,
      id: randomUUID(),
      endpoints: interfaces.map((i) => ({ id: randomUUID(), interface: i, region, region_id: region, url })),
    });
    const compute = this.options.computeInterfaces ?? ['public', 'internal', 'admin'];
    return [
      entry('identity', 'keystone', `${this.base}/identity`, ['public', 'internal']),
      ...(compute.length > 0 ? [entry('compute', 'nova', this.computeUrl, compute)] : []),
      ...(this.options.placement === false
        ? []
        : [entry('placement', 'placement', this.placementUrl, ['public', 'internal', 'admin'])]),
    ];
  }

  private authorize(req: IncomingMessage): void {
    const token = req.headers['x-auth-token'];
    const known = typeof token === 'string' ? this.tokens.get(token) : undefined;
    if (!known || known.expiresAt <= this.now())
      throw new HttpError(401, 'The request you have made requires authentication.');
  }

  // --- Placement -----------------------------------------------------------------------------

  private placement(req: IncomingMessage, method: string, path: string): Reply {
    if (path === '/')
      return ok({
        versions: [
          {
            id: 'v1.0',
            min_version: '1.0',
            max_version: '1.39',
            status: 'CURRENT',
            links: [{ href: '', rel: 'self' }],
          },
        ],
      });
    this.authorize(req);
    const match = /^\/resource_providers\/([^/]+)\/(inventories|usages)$/.exec(path);
    const host = match ? [...this.hosts.values()].find((h) => h.hypervisorId === match[1]) : undefined;
    if (method !== 'GET' || !match) throw new HttpError(404, 'The resource could not be found.');
    enforce([placementRule(match[2] as 'inventories' | 'usages')], this.denied);
    if (!host) throw new HttpError(404, `No resource provider with uuid ${match[1]} found`);
    if (match[2] === 'inventories') {
      const inventory = (total: number, reserved: number, ratio: number) => ({
        allocation_ratio: ratio,
        max_unit: total,
        min_unit: 1,
        reserved,
        step_size: 1,
        total,
      });
      return ok({
        resource_provider_generation: 1,
        inventories: {
          VCPU: inventory(host.vcpus, 0, host.cpuAllocationRatio),
          MEMORY_MB: inventory(host.memoryMb, host.reservedHostMemoryMb, host.ramAllocationRatio),
          DISK_GB: inventory(1028, 0, 1.0),
        },
      });
    }
    // An instance's allocation is on its host; during a live migration the instance already
    // holds the destination and the migration record holds the source.
    const consumers = [
      ...[...this.servers.values()].filter((s) => s.host === host.name),
      ...this.migrations
        .filter((m) => UNDER_WAY.includes(m.status) && m.dest === host.name)
        .map((m) => this.servers.get(m.serverId)!),
    ];
    return ok({
      resource_provider_generation: 1,
      usages: {
        VCPU: consumers.reduce((n, s) => n + s.vcpus, 0),
        MEMORY_MB: consumers.reduce((n, s) => n + s.ramMb, 0),
        DISK_GB: consumers.length * 20,
      },
    });
  }

  // --- Compute -------------------------------------------------------------------------------

  private compute(
    req: IncomingMessage,
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
    mv: string,
  ): Reply {
    const max = this.options.maxMicroversion ?? DEFAULT_MAX;
    if (path === '/compute' || path === '/compute/')
      return ok({ versions: [versionDoc(this.base, '2.0', ''), versionDoc(this.base, '2.1', max)] });
    if (path === '/') return ok({ version: versionDoc(this.base, '2.1', max) });
    this.authorize(req);
    const parts = path.split('/').filter(Boolean);
    const route = `${method} /${parts.map((p, i) => (i > 0 && !isKeyword(p) ? '*' : p)).join('/')}`;
    // Nova finds the server (404) before it checks the rule (403).
    if (parts[0] === 'servers' && parts.length > 1 && parts[1] !== 'detail') this.serverById(parts[1]!);
    const action = body && typeof body === 'object' ? Object.keys(body)[0] : undefined;
    enforce(computeRules(route, query, action), this.denied);
    const reply = this.computeRoute(route, parts, query, body, mv);
    withoutDeniedFields(reply.body, this.denied);
    return reply;
  }

  private computeRoute(
    route: string,
    parts: string[],
    query: URLSearchParams,
    body: unknown,
    mv: string,
  ): Reply {
    switch (route) {
      case 'GET /os-hypervisors/detail':
      case 'GET /os-hypervisors':
        return this.listHypervisors(query, mv, route.endsWith('detail'));
      case 'GET /os-services':
        return this.listServices(query, mv);
      case 'PUT /os-services/*':
        return this.updateService(parts[1]!, body, mv);
      case 'GET /os-availability-zone/detail':
        return ok({ availabilityZoneInfo: this.zones() });
      case 'GET /servers/detail':
      case 'GET /servers':
        return this.listServers(query, mv, route.endsWith('detail'));
      case 'GET /servers/*':
        return ok({ server: this.showServer(parts[1]!, mv) });
      case 'GET /os-server-groups':
        return this.listGroups(query);
      case 'POST /servers/*/action':
        return this.serverAction(this.serverById(parts[1]!), body, mv);
      case 'GET /servers/*/migrations': {
        const server = this.serverById(parts[1]!);
        const shown = this.migrations.filter(
          (m) => m.serverId === server.id && SHOWN_IN_PROGRESS.includes(m.status),
        );
        return ok({ migrations: shown.map((m) => this.serverMigration(m, mv)) });
      }
      case 'GET /servers/*/migrations/*':
        return this.showServerMigration(this.serverById(parts[1]!), Number(parts[3]), mv);
      case 'POST /servers/*/migrations/*/action':
        return this.forceComplete(this.serverById(parts[1]!), Number(parts[3]), body);
      case 'DELETE /servers/*/migrations/*':
        return this.abort(this.serverById(parts[1]!), Number(parts[3]), mv);
      case 'GET /os-migrations':
        return this.listMigrations(query, mv);
      case 'GET /servers/*/os-instance-actions':
        return this.listActions(this.serverById(parts[1]!), query, mv);
      case 'GET /servers/*/os-instance-actions/*': {
        const s = this.serverById(parts[1]!);
        const a = (this.actions.get(s.id) ?? []).find((x) => x.request_id === parts[3]);
        if (!a) throw new HttpError(404, `Action for request_id ${parts[3]} on instance ${s.id} not found`);
        return ok({ instanceAction: actionJson(a, s.id, true) });
      }
      default:
        throw new HttpError(404, 'The resource could not be found.');
    }
  }

  private isDown(host: string): boolean {
    return this.downCells.has(this.hosts.get(host)!.cell);
  }

  /** limit/marker paging as Nova does it: a next link whenever the page was full. */
  private page<T>(
    items: T[],
    query: URLSearchParams,
    idOf: (item: T) => string,
    nextHref: (q: URLSearchParams) => string,
  ): { items: T[]; links?: { href: string; rel: string }[] } {
    let list = items;
    const marker = query.get('marker');
    if (marker) {
      const at = list.findIndex((x) => idOf(x) === marker);
      if (at < 0) throw new HttpError(400, `marker [${marker}] not found`);
      list = list.slice(at + 1);
    }
    const cap = this.options.pageSize ?? 1000;
    const size = Math.min(Number(query.get('limit') ?? cap), cap);
    const page = list.slice(0, size);
    if (page.length < size || page.length === 0) return { items: page };
    const next = new URLSearchParams(query);
    next.set('limit', String(size));
    next.set('marker', idOf(page.at(-1)!));
    return { items: page, links: [{ href: nextHref(next), rel: 'next' }] };
  }

  private listHypervisors(query: URLSearchParams, mv: string, detail: boolean): Reply {
    // A down cell's compute nodes are skipped: the scatter-gather over cells drops it.
    const all = [...this.hosts.values()]
      .filter((h) => !this.isDown(h.name))
      .sort((a, b) => a.hypervisorId.localeCompare(b.hypervisorId));
    const { items, links } = this.page(
      all,
      query,
      (h) => h.hypervisorId,
      (q) => `${this.computeUrl}/os-hypervisors${detail ? '/detail' : ''}?${q}`,
    );
    const withServers = query.get('with_servers') === 'true';
    const servers = (h: StubHost) => [...this.servers.values()].filter((s) => s.host === h.name);
    const hypervisors = items.map((h) =>
      detail
        ? hypervisorJson(h, mv, { servers: servers(h), withServers })
        : {
            hypervisor_hostname: `${h.name}.example.org`,
            id: h.hypervisorId,
            state: h.state,
            status: h.status,
          },
    );
    return ok({ hypervisors, ...(links && { hypervisors_links: links }) });
  }

  private listServices(query: URLSearchParams, mv: string): Reply {
    const services = [...this.hosts.values()]
      .filter((h) => !this.isDown(h.name) || since(mv, '2.69'))
      .filter((h) => !query.get('host') || query.get('host') === h.name)
      .filter(() => !query.get('binary') || query.get('binary') === 'nova-compute')
      .map((h) => (this.isDown(h.name) ? downCellServiceJson(h) : serviceJson(h)));
    return ok({ services });
  }

  private listServers(query: URLSearchParams, mv: string, detail: boolean): Reply {
    const name = query.get('name');
    const pattern = name ? new RegExp(name) : undefined;
    const all = [...this.servers.values()].sort((a, b) => a.id.localeCompare(b.id));
    // A down cell's servers (2.69+): minimal records from the API database, whatever the filters.
    const listed = all.filter((s) =>
      this.isDown(s.host)
        ? since(mv, '2.69')
        : (!pattern || pattern.test(s.name)) && (!query.get('host') || query.get('host') === s.host),
    );
    const { items, links } = this.page(
      listed,
      query,
      (s) => s.id,
      (q) => `${this.computeUrl}/servers${detail ? '/detail' : ''}?${q}`,
    );
    const servers = items.map((s) => {
      if (this.isDown(s.host))
        return downCellServerJson(s, { mv, computeUrl: this.computeUrl, detail, show: false });
      if (!detail)
        return { id: s.id, name: s.name, links: serverJson(s, this.serverContext(s, mv, false)).links };
      return serverJson(s, this.serverContext(s, mv, false));
    });
    return ok({ servers, ...(links && { servers_links: links }) });
  }

  private showServer(id: string, mv: string): Record<string, unknown> {
    const s = this.serverById(id);
    if (this.isDown(s.host)) {
      if (!since(mv, '2.69')) throw new HttpError(503, 'NovaException: Cell is not responding');
      return downCellServerJson(s, { mv, computeUrl: this.computeUrl, detail: true, show: true });
    }
    return serverJson(s, this.serverContext(s, mv, true));
  }

  private serverContext(s: StubServer, mv: string, show: boolean) {
    return { mv, computeUrl: this.computeUrl, host: this.hosts.get(s.host)!, show };
  }

  /** os-server-groups pages by limit and offset; it gives no links. */
  private listGroups(query: URLSearchParams): Reply {
    const cap = this.options.pageSize ?? 1000;
    const offset = Number(query.get('offset') ?? 0);
    const limit = Math.min(Number(query.get('limit') ?? cap), cap);
    const groups = [...this.groups.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .slice(offset, offset + limit);
    const members = (g: StubGroup) =>
      [...this.servers.values()].filter((s) => s.groupId === g.id).map((s) => s.id);
    return ok({ server_groups: groups.map((g) => groupJson(g, members(g))) });
  }

  private listMigrations(query: URLSearchParams, mv: string): Reply {
    const all = this.migrations
      .filter((m) => !query.get('instance_uuid') || m.serverId === query.get('instance_uuid'))
      .filter(() => !query.get('migration_type') || query.get('migration_type') === 'live-migration')
      .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id);
    if (!since(mv, '2.59'))
      return ok({ migrations: all.map((m) => migrationRecordJson(m, mv, this.computeUrl)) });
    const { items, links } = this.page(
      all,
      query,
      (m) => m.uuid,
      (q) => `${this.computeUrl}/os-migrations?${q}`,
    );
    return ok({
      migrations: items.map((m) => migrationRecordJson(m, mv, this.computeUrl)),
      ...(links && { migrations_links: links }),
    });
  }

  private listActions(s: StubServer, query: URLSearchParams, mv: string): Reply {
    const all = [...(this.actions.get(s.id) ?? [])].reverse();
    if (!since(mv, '2.58')) return ok({ instanceActions: all.map((a) => actionJson(a, s.id, false)) });
    const { items, links } = this.page(
      all,
      query,
      (a) => a.request_id,
      (q) => `${this.computeUrl}/servers/${s.id}/os-instance-actions?${q}`,
    );
    return ok({ instanceActions: items.map((a) => actionJson(a, s.id, false)), ...(links && { links }) });
  }

  private updateService(serviceId: string, body: unknown, mv: string): Reply {
    if (!since(mv, '2.53')) throw new HttpError(404, 'The resource could not be found.');
    const host = [...this.hosts.values()].find((h) => h.serviceId === serviceId);
    if (!host || this.isDown(host.name)) throw new HttpError(404, `Service ${serviceId} could not be found.`);
    const b = (body ?? {}) as { status?: unknown; disabled_reason?: unknown; forced_down?: unknown };
    if (b.status !== undefined && b.status !== 'enabled' && b.status !== 'disabled')
      throw new HttpError(
        400,
        "Invalid input for field/attribute status. Value: must be 'enabled' or 'disabled'",
      );
    if (b.status === undefined && b.forced_down === undefined)
      throw new HttpError(400, "'status' or 'forced_down' must be specified in the request body");
    if (b.disabled_reason !== undefined && b.status !== 'disabled')
      throw new HttpError(400, 'Specifying a disabled_reason is only supported when the status is disabled.');
    if (typeof b.disabled_reason === 'string' && b.disabled_reason.length > 255)
      throw new HttpError(400, 'Invalid input for field/attribute disabled_reason. Value: too long');
    if (b.status === 'enabled' || b.status === 'disabled') {
      host.status = b.status;
      host.disabledReason =
        b.status === 'disabled' ? ((b.disabled_reason as string | undefined) ?? null) : null;
    }
    return ok({ service: serviceJson(host) });
  }

  private serverAction(server: StubServer, body: unknown, mv: string): Reply {
    const live = (body as { 'os-migrateLive'?: Record<string, unknown> } | undefined)?.['os-migrateLive'];
    if (!live) throw new HttpError(400, 'The stub knows only the os-migrateLive server action');
    const allowed = since(mv, '2.68')
      ? ['host', 'block_migration']
      : ['host', 'block_migration', 'force', 'disk_over_commit'];
    const extra = Object.keys(live).filter((k) => !allowed.includes(k));
    if (extra.length > 0 || !('block_migration' in live))
      throw new HttpError(
        400,
        `Invalid input for field/attribute os-migrateLive. Additional properties are not allowed (${extra} was unexpected)`,
      );
    if (live.block_migration !== 'auto' && typeof live.block_migration !== 'boolean')
      throw new HttpError(
        400,
        "Invalid input for field/attribute block_migration. Value: must be 'auto' or boolean",
      );
    const host = live.host;
    if (host !== null && host !== undefined && typeof host !== 'string')
      throw new HttpError(400, 'Invalid input for field/attribute host.');
    if (!['active', 'paused'].includes(server.vmState))
      throw invalidState('os-migrateLive', server.id, 'vm_state', server.vmState);
    if (server.taskState !== null)
      throw invalidState('os-migrateLive', server.id, 'task_state', server.taskState);
    if (typeof host === 'string' && !this.hosts.has(host))
      throw new HttpError(400, `Compute host ${host} could not be found.`);
    // Before 2.34 the API checked the destination itself; since, the conductor does, after the 202.
    if (host === server.host && !since(mv, '2.34'))
      throw new HttpError(400, `Unable to migrate instance (${server.id}) to current host (${server.host}).`);
    const requestId = `req-${randomUUID()}`;
    const now = this.now();
    const dest = typeof host === 'string' ? this.hosts.get(host)! : this.schedule(server);
    const migration: StubMigration = {
      id: this.nextMigrationId++,
      uuid: randomUUID(),
      serverId: server.id,
      source: server.host,
      dest: dest?.name ?? null,
      status: 'accepted',
      createdAt: now,
      updatedAt: now,
      memoryBytes: server.ramMb * MiB,
      // A paused guest's vCPUs do not run.
      dirtyBytesPerS: server.vmState === 'paused' ? 0 : server.dirtyBytesPerS,
      pass: 0,
      passStart: 0,
      passBytes: 0,
      sentBefore: 0,
      finalPass: false,
      guestPaused: false,
      postCopyBytes: 0,
      requestId,
    };
    this.migrations.push(migration);
    this.record(server.id, {
      action: 'live-migration',
      request_id: requestId,
      message: null,
      start_time: novaTime(now),
      updated_at: novaTime(now),
      events: [],
    });
    const refusal =
      dest?.name === server.host
        ? `MigrationPreCheckError: Migration pre-check error: Unable to migrate instance (${server.id}) to current host (${server.host}).`
        : !dest || dest.status === 'disabled' || dest.state === 'down' || this.isDown(dest.name)
          ? 'No valid host was found. There are not enough hosts available.'
          : undefined;
    if (refusal) {
      migration.status = 'error';
      const action = this.actionOf(migration)!;
      action.message = refusal;
      action.events.push(
        event(
          'conductor_live_migrate_instance',
          'Error',
          now,
          'conductor',
          `Traceback (most recent call last):\n${refusal}`,
        ),
      );
      return { status: 202, body: undefined };
    }
    server.taskState = 'migrating';
    this.actionOf(migration)!.events.push(
      event('conductor_live_migrate_instance', 'Success', now, 'conductor', null),
    );
    return { status: 202, body: undefined };
  }

  private showServerMigration(server: StubServer, id: number, mv: string): Reply {
    const m = this.migrations.find((x) => x.id === id && x.serverId === server.id);
    if (!m)
      throw new HttpError(404, `In-progress live migration ${id} is not found for server ${server.id}.`);
    if (!SHOWN_IN_PROGRESS.includes(m.status))
      throw new HttpError(404, `Live migration ${id} for server ${server.id} is not in progress.`);
    return ok({ migration: this.serverMigration(m, mv) });
  }

  private serverMigration(m: StubMigration, mv: string): Record<string, unknown> {
    return serverMigrationJson(m, mv, countersOf(m, this.now(), this.settings().bandwidthBytesPerS));
  }

  private forceComplete(server: StubServer, migrationId: number, body: unknown): Reply {
    if (
      !body ||
      typeof body !== 'object' ||
      !('force_complete' in body) ||
      (body as { force_complete: unknown }).force_complete !== null
    )
      throw new HttpError(400, 'Invalid input for field/attribute force_complete. Value: must be null');
    if (server.vmState !== 'active')
      throw invalidState('force_complete', server.id, 'vm_state', server.vmState);
    if (server.taskState !== 'migrating')
      throw invalidState('force_complete', server.id, 'task_state', String(server.taskState));
    const m = this.migrations.find((x) => x.id === migrationId && x.serverId === server.id);
    if (!m)
      throw new HttpError(400, `Migration ${migrationId} for instance ${server.id} could not be found.`);
    if (m.status !== 'running')
      throw invalidMigrationState(migrationId, server.id, m.status, 'force complete');
    forceComplete(m, this.now(), this.settings());
    this.actionOf(m)?.events.push(
      event('compute_live_migration_force_complete', 'Success', this.now(), m.source, null),
    );
    return { status: 202, body: undefined };
  }

  private abort(server: StubServer, migrationId: number, mv: string): Reply {
    if (server.vmState !== 'active')
      throw invalidState('abort live migration', server.id, 'vm_state', server.vmState);
    if (server.taskState !== 'migrating')
      throw invalidState('abort live migration', server.id, 'task_state', String(server.taskState));
    const m = this.migrations.find((x) => x.id === migrationId && x.serverId === server.id);
    if (!m)
      throw new HttpError(404, `Migration ${migrationId} for instance ${server.id} could not be found.`);
    const allowed: MigrationStatus[] = since(mv, '2.65') ? ['running', 'queued', 'preparing'] : ['running'];
    if (!allowed.includes(m.status))
      throw invalidMigrationState(migrationId, server.id, m.status, 'abort live migration');
    const now = this.now();
    m.status = 'cancelled';
    m.updatedAt = now;
    server.taskState = null;
    this.actionOf(m)?.events.push(event('compute_live_migration_abort', 'Success', now, m.source, null));
    return { status: 202, body: undefined };
  }

  // --- migration model -------------------------------------------------------------------------

  private settings(): ModelSettings {
    return {
      setupMs: this.options.setupMs ?? 400,
      bandwidthBytesPerS: this.options.bandwidthBytesPerS ?? GiB,
      permitPostCopy: this.options.permitPostCopy ?? false,
    };
  }

  /** Brings every migration up to the current stub time. */
  private tick(): void {
    const now = this.now();
    const settings = this.settings();
    for (const m of this.migrations) advanceMigration(m, now, settings, this.hooks);
  }

  /** Nova's scheduler, briefly: an enabled, up host other than the source with the most free RAM. */
  private schedule(server: StubServer): StubHost | undefined {
    const peers = [...this.servers.values()].filter(
      (s) => s.groupId && s.groupId === server.groupId && s.id !== server.id,
    );
    const group = server.groupId ? [...this.groups.values()].find((g) => g.id === server.groupId) : undefined;
    const avoid = new Set(group?.policy === 'anti-affinity' ? peers.map((p) => p.host) : []);
    return [...this.hosts.values()]
      .filter(
        (h) =>
          h.name !== server.host &&
          h.status === 'enabled' &&
          h.state === 'up' &&
          !this.isDown(h.name) &&
          !avoid.has(h.name),
      )
      .sort((a, b) => this.freeRamMb(b) - this.freeRamMb(a))[0];
  }

  private freeRamMb(h: StubHost): number {
    return (
      h.memoryMb -
      [...this.servers.values()].filter((s) => s.host === h.name).reduce((n, s) => n + s.ramMb, 0)
    );
  }

  private zones(): unknown[] {
    const byZone = new Map<string, StubHost[]>();
    for (const h of this.hosts.values()) byZone.set(h.az, [...(byZone.get(h.az) ?? []), h]);
    const internal = {
      zoneName: 'internal',
      zoneState: { available: true },
      hosts: {
        controller: { 'nova-conductor': { available: true, active: true, updated_at: novaTime(this.now()) } },
      },
    };
    return [
      internal,
      ...[...byZone].map(([zoneName, hosts]) => ({
        zoneName,
        zoneState: { available: true },
        hosts: Object.fromEntries(
          hosts.map((h) => [
            h.name,
            {
              'nova-compute': {
                available: h.state === 'up',
                active: h.status === 'enabled',
                updated_at: novaTime(this.now()),
              },
            },
          ]),
        ),
      })),
    ];
  }

  // --- helpers -----------------------------------------------------------------------------------

  private serverById(id: string): StubServer {
    const s = this.servers.get(id);
    if (!s) throw new HttpError(404, `Instance ${id} could not be found.`);
    return s;
  }

  private serverByName(name: string): StubServer {
    const s = [...this.servers.values()].find((x) => x.name === name);
    if (!s) throw new Error(`no stub server named ${name}`);
    return s;
  }

  private record(serverId: string, action: StubAction): void {
    this.actions.set(serverId, [...(this.actions.get(serverId) ?? []), action]);
  }

  private actionOf(m: StubMigration): StubAction | undefined {
    return this.actions.get(m.serverId)?.find((a) => a.request_id === m.requestId);
  }
}

/** A driver config for the stub (password auth as the stub's default user), with overrides. */
export function novaTestConfig(stub: NovaStub, overrides: Record<string, unknown> = {}): NovaConfig {
  return novaConfigSchema.parse({
    authUrl: stub.authUrl,
    auth: { type: 'password', username: 'ferry', password: 's3cret', projectName: 'ops' },
    region: 'RegionOne',
    requestTimeoutS: 5,
    startTimeoutS: 10,
    ...overrides,
  });
}

/** `count` servers named vm-1.. on `host`, for drain tests. */
export function serversOn(host: string, count: number, spec: Partial<StubServerSpec> = {}): StubServerSpec[] {
  return Array.from({ length: count }, (_, i) => ({ name: `vm-${i + 1}`, host, ...spec }));
}

function ok(body: unknown): Reply {
  return { status: 200, body };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      data += chunk;
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

/** The requested compute microversion (`latest` allowed), or undefined (Nova then serves 2.1). */
function parseMicroversion(req: IncomingMessage): string | undefined {
  const modern = req.headers['openstack-api-version'];
  if (typeof modern === 'string') {
    const match = /(?:^|,)\s*compute\s+(\d+\.\d+|latest)\s*(?:,|$)/.exec(modern);
    if (match) return match[1];
  }
  const legacy = req.headers['x-openstack-nova-api-version'];
  return typeof legacy === 'string' ? legacy.trim() : undefined;
}

/** Path segments that name a resource rather than an id. */
function isKeyword(segment: string): boolean {
  return ['detail', 'action', 'migrations', 'os-instance-actions'].includes(segment);
}

function event(name: string, result: string | null, at: number, host: string, traceback: string | null) {
  return { event: name, result, start_time: novaTime(at), finish_time: novaTime(at), traceback, host };
}

/** Keystone's: `2015-11-06T15:32:17.893769Z`. */
function keystoneTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}
