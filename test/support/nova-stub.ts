import { randomUUID } from 'node:crypto';
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { type NovaConfig, novaConfigSchema } from '../../src/engine/drivers/nova/config.js';

/**
 * A Nova + Keystone stand-in on loopback for tests. It answers in the shapes of the real API
 * samples (Keystone v3 tokens, Compute microversion 2.80: os-hypervisors, os-services,
 * os-availability-zone, servers with embedded flavors and server_groups, os-server-groups,
 * os-migrateLive, server migrations, os-migrations, os-instance-actions), keeps a small fleet
 * given by the test, and runs live migrations on a simple pre-copy model over stub time:
 *
 *   stub time = wall time x speedUp + advance(ms) offsets
 *
 * Pass 0 sends the guest's memory at `bandwidthBytesPerS`; pass i sends what the guest dirtied
 * during pass i-1; the switchover happens once a pass's bytes fit in bandwidth x 0.5 s, so a
 * guest dirtying faster than the bandwidth never converges. force_complete finishes after the
 * current pass; DELETE cancels (the server stays on its source, ACTIVE).
 *
 * Typical use:
 *   const stub = await NovaStub.start({ hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }],
 *     servers: tenServersOn('cmp-1') });
 *   const driver = new NovaDriver({ config: novaTestConfig(stub), clock: systemClock });
 *   stub.failNext({ method: 'POST', path: /\/action$/, action: 'os-migrateLive', status: 500 });
 *   stub.failMigration('vm-3', { stuck: true });   // error, server left in MIGRATING
 *   stub.advance(60_000);                          // a minute of stub time passes at once
 */

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

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
}

export interface StubServerSpec {
  name: string;
  host: string;
  id?: string;
  vcpus?: number;
  ramMb?: number;
  status?: string;
  taskState?: string | null;
  /** Name of a server group from `groups`. */
  group?: string;
  /** Guest page-dirtying rate, bytes/s (default 8 MiB/s). */
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
  /** Highest microversion the cloud supports (default 2.95). */
  maxMicroversion?: string;
  tokenTtlS?: number;
  /** Each migration's stream, bytes/s (default 1 GiB/s). */
  bandwidthBytesPerS?: number;
  /** Stub time runs this many times faster than the wall clock (default 1). */
  speedUp?: number;
  /** Stub time from os-migrateLive to the first byte (queued, preparing), ms (default 400). */
  setupMs?: number;
  /** Page size of GET /servers/detail (Nova's limit/marker pagination; default 1000). */
  pageSize?: number;
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
  service: 'keystone' | 'compute';
  action?: string;
  microversion?: string;
  /** The parsed JSON body, if any. */
  body?: unknown;
}

interface StubHost {
  name: string;
  hypervisorId: string;
  serviceId: string;
  vcpus: number;
  memoryMb: number;
  cpuModel: string;
  az: string;
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  state: 'up' | 'down';
}

interface StubServer {
  id: string;
  name: string;
  host: string;
  vcpus: number;
  ramMb: number;
  status: string;
  taskState: string | null;
  groupId?: string;
  dirtyBytesPerS: number;
}

interface StubGroup {
  id: string;
  name: string;
  policy: string;
}

type MigrationStatus = 'queued' | 'preparing' | 'running' | 'completed' | 'error' | 'cancelled';

interface StubMigration {
  id: number;
  uuid: string;
  serverId: string;
  source: string;
  dest: string | null;
  status: MigrationStatus;
  createdAt: number;
  updatedAt: number;
  memoryBytes: number;
  dirtyBytesPerS: number;
  // pre-copy model
  pass: number;
  passStart: number;
  passBytes: number;
  sentBefore: number;
  finalPass: boolean;
  forced: boolean;
  requestId: string;
}

interface StubEvent {
  event: string;
  result: string | null;
  start_time: string;
  finish_time: string | null;
  traceback: string | null;
  host: string;
}

interface StubAction {
  action: string;
  request_id: string;
  message: string | null;
  start_time: string;
  updated_at: string;
  events: StubEvent[];
}

interface ArmedFailure {
  stuck: boolean;
  cause: string;
}

const IN_PROGRESS: readonly MigrationStatus[] = ['queued', 'preparing', 'running'];
const PROJECT_ID = '6f70656e737461636b20342065766572';
const USER_ID = '5c48ebaa193f4c5d948af559cc92cd5e';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

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
  private readonly tokens = new Map<string, number>();
  private readonly faults: (FaultSpec & { left: number })[] = [];
  private readonly mutations: (MutationSpec & { left: number })[] = [];
  private readonly armed = new Map<string, ArmedFailure>();
  private nextMigrationId = 1;

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
      });
    for (const s of options.servers ?? []) {
      if (!this.hosts.has(s.host)) throw new Error(`stub server ${s.name}: unknown host ${s.host}`);
      const group = s.group === undefined ? undefined : this.groups.get(s.group);
      if (s.group !== undefined && !group) throw new Error(`stub server ${s.name}: unknown group ${s.group}`);
      const id = s.id ?? randomUUID();
      this.servers.set(id, {
        id,
        name: s.name,
        host: s.host,
        vcpus: s.vcpus ?? 2,
        ramMb: s.ramMb ?? 4096,
        status: s.status ?? 'ACTIVE',
        taskState: s.taskState ?? null,
        groupId: group?.id,
        dirtyBytesPerS: s.dirtyBytesPerS ?? 8 * MiB,
      });
    }
  }

  /** Starts the stub on a free loopback port. */
  static async start(options: NovaStubOptions): Promise<NovaStub> {
    const stub = new NovaStub(options);
    stub.http = createServer((req, res) => {
      stub.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ computeFault: { code: 500, message: String(err) } }));
      });
    });
    await new Promise<void>((resolve) => stub.http.listen(0, '127.0.0.1', resolve));
    stub.base = `http://127.0.0.1:${(stub.http.address() as AddressInfo).port}`;
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
   * The server's migration goes to `error` (now, or when the next one starts). With `stuck`, the
   * server is left in MIGRATING (task_state migrating), the classic state operators must reset.
   */
  failMigration(serverName: string, options: { stuck?: boolean; cause?: string } = {}): void {
    const server = this.serverByName(serverName);
    const failure = {
      stuck: options.stuck ?? false,
      cause:
        options.cause ?? 'libvirt.libvirtError: operation failed: migration out job: unexpectedly failed',
    };
    this.tick();
    const running = this.migrations.find((m) => m.serverId === server.id && IN_PROGRESS.includes(m.status));
    if (running) this.fail(running, failure);
    else this.armed.set(server.id, failure);
  }

  /** Every token issued so far stops working (Nova answers 401). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  /** A snapshot of one server, by name. */
  server(name: string): { id: string; host: string; status: string; taskState: string | null } {
    this.tick();
    const s = this.serverByName(name);
    return { id: s.id, host: s.host, status: s.status, taskState: s.taskState };
  }

  /** The nova-compute service of a host. */
  service(host: string): { status: 'enabled' | 'disabled'; disabledReason: string | null } {
    const h = this.hosts.get(host);
    if (!h) throw new Error(`no stub host ${host}`);
    return { status: h.status, disabledReason: h.disabledReason };
  }

  /** Migrations of a server (by name), oldest first. */
  migrationsOf(name: string): { id: number; status: string; source: string; dest: string | null }[] {
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
      return this.send(res, 400, { badRequest: { code: 400, message: 'Malformed request body' } });
    }
    const method = req.method ?? 'GET';
    const service = url.pathname.startsWith('/identity') ? 'keystone' : 'compute';
    const prefix = service === 'keystone' ? '/identity/v3' : '/compute/v2.1';
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) || '/' : url.pathname;
    const action = body && typeof body === 'object' ? Object.keys(body)[0] : undefined;
    const microversion = parseMicroversion(req);
    this.calls.push({ method, path: path + url.search, service, action, microversion, body });
    this.tick();

    const fault = this.faults.find(
      (f) =>
        f.left > 0 &&
        f.method === method &&
        f.path.test(path + url.search) &&
        (f.action === undefined || f.action === action),
    );
    if (fault) {
      fault.left -= 1;
      return this.send(res, fault.status, faultBody(fault.status, 'injected by the test'));
    }
    try {
      const reply =
        service === 'keystone'
          ? this.keystone(method, path, body)
          : this.compute(req, method, path, url.searchParams, body, microversion);
      const headers: Record<string, string> = { ...reply.headers };
      if (service === 'compute' && microversion && url.pathname.startsWith('/compute/v2.1/')) {
        headers['OpenStack-API-Version'] = `compute ${microversion}`;
        headers.Vary = 'OpenStack-API-Version, X-OpenStack-Nova-API-Version';
      }
      let replyBody = reply.body;
      const mutation = this.mutations.find(
        (m) => m.left > 0 && m.method === method && m.path.test(path + url.search),
      );
      if (mutation && replyBody && typeof replyBody === 'object') {
        mutation.left -= 1;
        replyBody = structuredClone(replyBody);
        mutation.mutate(replyBody as Record<string, unknown>);
      }
      this.send(res, reply.status, replyBody, headers);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      // keystonemiddleware answers 401 in Keystone's shape, in front of Nova too.
      const errorBody =
        service === 'keystone' || err.status === 401
          ? keystoneError(err)
          : faultBody(err.status, err.message);
      this.send(res, err.status, errorBody);
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
    if (method !== 'POST' || path !== '/auth/tokens')
      throw new HttpError(404, 'The resource could not be found.');
    const identity = (body as { auth?: { identity?: Record<string, unknown> } })?.auth?.identity;
    const methods = identity?.methods;
    const user = this.options.user ?? { name: 'ferry', password: 's3cret' };
    const cred = this.options.applicationCredential ?? {
      id: 'app-cred-1',
      name: 'ferry-app',
      secret: 'app-s3cret',
    };
    let ok = false;
    if (Array.isArray(methods) && methods[0] === 'password') {
      const u = (identity?.password as { user?: Record<string, unknown> } | undefined)?.user;
      const scope = (body as { auth: { scope?: { project?: { name?: string; id?: string } } } }).auth.scope
        ?.project;
      ok =
        u?.name === user.name &&
        u?.password === user.password &&
        (u?.domain as { name?: string } | undefined)?.name === (user.domain ?? 'Default') &&
        (scope?.name === (user.project ?? 'ops') || scope?.id === PROJECT_ID);
    } else if (Array.isArray(methods) && methods[0] === 'application_credential') {
      const a = identity?.application_credential as Record<string, unknown> | undefined;
      ok =
        a?.secret === cred.secret && (a?.id === cred.id || (a?.name === cred.name && a?.user !== undefined));
    }
    if (!ok) throw new HttpError(401, 'The request you have made requires authentication.');
    const token = `gAAAA${randomUUID().replaceAll('-', '')}`;
    const expiresAt = this.now() + (this.options.tokenTtlS ?? 3600) * 1000;
    this.tokens.set(token, expiresAt);
    this.tokensIssued += 1;
    const region = this.options.region ?? 'RegionOne';
    const interfaces = this.options.computeInterfaces ?? ['public', 'internal', 'admin'];
    const catalog = [
      {
        type: 'identity',
        name: 'keystone',
        id: randomUUID(),
        endpoints: ['public', 'internal'].map((i) => ({
          id: randomUUID(),
          interface: i,
          region,
          region_id: region,
          url: `${this.base}/identity`,
        })),
      },
    ];
    if (interfaces.length > 0)
      catalog.push({
        type: 'compute',
        name: 'nova',
        id: randomUUID(),
        endpoints: interfaces.map((i) => ({
          id: randomUUID(),
          interface: i,
          region,
          region_id: region,
          url: this.computeUrl,
        })),
      });
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
          project: {
            domain: { id: 'default', name: 'Default' },
            id: PROJECT_ID,
            name: user.project ?? 'ops',
          },
          is_domain: false,
          roles: [{ id: randomUUID(), name: 'admin' }],
          catalog,
        },
      },
    };
  }

  // --- Compute -------------------------------------------------------------------------------

  private compute(
    req: IncomingMessage,
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
    microversion: string | undefined,
  ): Reply {
    const max = this.options.maxMicroversion ?? '2.95';
    if (path === '/compute' || path === '/compute/')
      return ok({ versions: [versionDoc(this.base, '2.0', ''), versionDoc(this.base, '2.1', max)] });
    if (path === '/') return ok({ version: versionDoc(this.base, '2.1', max) });
    const token = req.headers['x-auth-token'];
    const expiresAt = typeof token === 'string' ? this.tokens.get(token) : undefined;
    if (expiresAt === undefined || expiresAt <= this.now())
      throw new HttpError(401, 'The request you have made requires authentication.');
    if (microversion && compareVersions(microversion, max) > 0)
      throw new HttpError(
        406,
        `Version ${microversion} is not supported by the API. Minimum is 2.1 and maximum is ${max}.`,
      );
    const parts = path.split('/').filter(Boolean);
    const route = `${method} /${parts.map((p, i) => (i > 0 && !isKeyword(p) ? '*' : p)).join('/')}`;
    switch (route) {
      case 'GET /os-hypervisors/detail':
        return ok({ hypervisors: [...this.hosts.values()].map((h) => this.hypervisorJson(h, query)) });
      case 'GET /os-services':
        return ok({
          services: [...this.hosts.values()]
            .filter((h) => !query.get('host') || query.get('host') === h.name)
            .filter(() => !query.get('binary') || query.get('binary') === 'nova-compute')
            .map((h) => serviceJson(h)),
        });
      case 'PUT /os-services/*':
        return this.updateService(parts[1]!, body);
      case 'GET /os-availability-zone/detail':
        return ok({ availabilityZoneInfo: this.zones() });
      case 'GET /servers/detail':
        return this.listServers(query);
      case 'GET /servers/*':
        return ok({ server: this.serverJson(this.serverById(parts[1]!)) });
      case 'GET /os-server-groups':
        return ok({ server_groups: [...this.groups.values()].map((g) => this.groupJson(g)) });
      case 'POST /servers/*/action':
        return this.serverAction(this.serverById(parts[1]!), body);
      case 'GET /servers/*/migrations':
        return ok({
          migrations: this.inProgressOf(this.serverById(parts[1]!).id).map((m) =>
            this.serverMigrationJson(m),
          ),
        });
      case 'GET /servers/*/migrations/*': {
        const m = this.inProgressOf(this.serverById(parts[1]!).id).find((x) => x.id === Number(parts[3]));
        if (!m)
          throw new HttpError(
            404,
            `In-progress live migration ${parts[3]} is not found for server ${parts[1]}.`,
          );
        return ok({ migration: this.serverMigrationJson(m) });
      }
      case 'POST /servers/*/migrations/*/action':
        return this.forceComplete(this.serverById(parts[1]!), Number(parts[3]), body);
      case 'DELETE /servers/*/migrations/*':
        return this.abort(this.serverById(parts[1]!), Number(parts[3]));
      case 'GET /os-migrations':
        return ok({
          migrations: this.migrations
            .filter((m) => !query.get('instance_uuid') || m.serverId === query.get('instance_uuid'))
            .filter(() => !query.get('migration_type') || query.get('migration_type') === 'live-migration')
            .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id)
            .map((m) => this.migrationRecordJson(m)),
        });
      case 'GET /servers/*/os-instance-actions': {
        const s = this.serverById(parts[1]!);
        return ok({
          instanceActions: (this.actions.get(s.id) ?? [])
            .map(({ events: _events, ...a }) => ({
              ...a,
              instance_uuid: s.id,
              user_id: USER_ID,
              project_id: PROJECT_ID,
            }))
            .reverse(),
        });
      }
      case 'GET /servers/*/os-instance-actions/*': {
        const s = this.serverById(parts[1]!);
        const a = (this.actions.get(s.id) ?? []).find((x) => x.request_id === parts[3]);
        if (!a) throw new HttpError(404, `Action for request_id ${parts[3]} on instance ${s.id} not found`);
        return ok({
          instanceAction: { ...a, instance_uuid: s.id, user_id: USER_ID, project_id: PROJECT_ID },
        });
      }
      default:
        throw new HttpError(404, 'The resource could not be found.');
    }
  }

  private listServers(query: URLSearchParams): Reply {
    const name = query.get('name');
    const pattern = name ? new RegExp(name) : undefined;
    let list = [...this.servers.values()]
      .filter((s) => !pattern || pattern.test(s.name))
      .filter((s) => !query.get('host') || query.get('host') === s.host)
      .sort((a, b) => a.id.localeCompare(b.id));
    const marker = query.get('marker');
    if (marker) {
      const at = list.findIndex((s) => s.id === marker);
      if (at < 0) throw new HttpError(400, `marker [${marker}] not found`);
      list = list.slice(at + 1);
    }
    const size = Math.min(Number(query.get('limit') ?? Infinity), this.options.pageSize ?? 1000);
    const page = list.slice(0, size);
    const reply: Record<string, unknown> = { servers: page.map((s) => this.serverJson(s)) };
    if (list.length > size) {
      const next = new URLSearchParams(query);
      next.set('limit', String(size));
      next.set('marker', page.at(-1)!.id);
      reply.servers_links = [{ href: `${this.computeUrl}/servers/detail?${next}`, rel: 'next' }];
    }
    return ok(reply);
  }

  private updateService(serviceId: string, body: unknown): Reply {
    const host = [...this.hosts.values()].find((h) => h.serviceId === serviceId);
    if (!host) throw new HttpError(404, `Service ${serviceId} could not be found.`);
    const b = (body ?? {}) as { status?: unknown; disabled_reason?: unknown };
    if (b.status !== 'enabled' && b.status !== 'disabled')
      throw new HttpError(
        400,
        "Invalid input for field/attribute status. Value: must be 'enabled' or 'disabled'",
      );
    if (b.disabled_reason !== undefined && b.status !== 'disabled')
      throw new HttpError(400, 'Specifying a disabled_reason is only supported when the status is disabled.');
    if (typeof b.disabled_reason === 'string' && b.disabled_reason.length > 255)
      throw new HttpError(400, 'disabled_reason is too long (255 characters at most)');
    host.status = b.status;
    host.disabledReason =
      b.status === 'disabled' ? ((b.disabled_reason as string | undefined) ?? null) : null;
    return ok({ service: serviceJson(host) });
  }

  private serverAction(server: StubServer, body: unknown): Reply {
    const live = (body as { 'os-migrateLive'?: Record<string, unknown> } | undefined)?.['os-migrateLive'];
    if (!live) throw new HttpError(400, 'The stub knows only the os-migrateLive server action');
    const extra = Object.keys(live).filter((k) => k !== 'host' && k !== 'block_migration');
    if (extra.length > 0 || !('block_migration' in live))
      throw new HttpError(
        400,
        `Invalid input for os-migrateLive (2.68+ takes host and block_migration): ${extra}`,
      );
    if (live.block_migration !== 'auto' && typeof live.block_migration !== 'boolean')
      throw new HttpError(
        400,
        "Invalid input for field/attribute block_migration. Value: must be 'auto' or boolean",
      );
    if (!['ACTIVE', 'PAUSED'].includes(server.status) || server.taskState !== null)
      throw new HttpError(
        409,
        `Cannot 'os-migrateLive' instance ${server.id} while it is in ${server.taskState ? `task_state ${server.taskState}` : `vm_state ${server.status.toLowerCase()}`}`,
      );
    const host = live.host;
    if (host !== null && host !== undefined && typeof host !== 'string')
      throw new HttpError(400, 'Invalid input for field/attribute host.');
    if (typeof host === 'string' && !this.hosts.has(host))
      throw new HttpError(400, `Compute host ${host} could not be found.`);
    if (host === server.host) throw new HttpError(400, "The target host can't be the same one.");
    const requestId = `req-${randomUUID()}`;
    const now = this.now();
    // Nova answers 202 and schedules in the conductor: a bad destination is a migration in error.
    const dest = typeof host === 'string' ? this.hosts.get(host)! : this.schedule(server);
    const migration: StubMigration = {
      id: this.nextMigrationId++,
      uuid: randomUUID(),
      serverId: server.id,
      source: server.host,
      dest: dest?.name ?? null,
      status: 'queued',
      createdAt: now,
      updatedAt: now,
      memoryBytes: server.ramMb * MiB,
      dirtyBytesPerS: server.dirtyBytesPerS,
      pass: 0,
      passStart: 0,
      passBytes: 0,
      sentBefore: 0,
      finalPass: false,
      forced: false,
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
    if (!dest || dest.status === 'disabled' || dest.state === 'down') {
      migration.status = 'error';
      const action = this.actionOf(migration)!;
      action.message = 'No valid host was found. There are not enough hosts available.';
      action.events.push(event('conductor_live_migrate_instance', 'Error', now, 'conductor', null));
      return { status: 202, body: undefined };
    }
    server.status = 'MIGRATING';
    server.taskState = 'migrating';
    this.actionOf(migration)!.events.push(
      event('conductor_live_migrate_instance', 'Success', now, 'conductor', null),
    );
    return { status: 202, body: undefined };
  }

  private forceComplete(server: StubServer, migrationId: number, body: unknown): Reply {
    if (!body || typeof body !== 'object' || !('force_complete' in body))
      throw new HttpError(400, 'Invalid input: the body must be {"force_complete": null}');
    const m = this.migrations.find((x) => x.id === migrationId && x.serverId === server.id);
    if (!m)
      throw new HttpError(404, `Migration ${migrationId} for instance ${server.id} could not be found.`);
    if (m.status !== 'running')
      throw new HttpError(
        400,
        `Migration ${migrationId} state of instance ${server.id} is ${m.status}. Cannot force_complete while the migration is in this state.`,
      );
    m.forced = true;
    return { status: 202, body: undefined };
  }

  private abort(server: StubServer, migrationId: number): Reply {
    const m = this.migrations.find((x) => x.id === migrationId && x.serverId === server.id);
    if (!m)
      throw new HttpError(404, `Migration ${migrationId} for instance ${server.id} could not be found.`);
    if (!IN_PROGRESS.includes(m.status))
      throw new HttpError(
        400,
        `Migration ${migrationId} state of instance ${server.id} is ${m.status}. Cannot abort live migration while the migration is in this state.`,
      );
    const now = this.now();
    m.status = 'cancelled';
    m.updatedAt = now;
    server.status = 'ACTIVE';
    server.taskState = null;
    this.actionOf(m)?.events.push(event('compute_live_migration_abort', 'Success', now, m.source, null));
    return { status: 202, body: undefined };
  }

  // --- migration model -------------------------------------------------------------------------

  /** Brings every migration up to the current stub time. */
  private tick(): void {
    const now = this.now();
    const setup = this.options.setupMs ?? 400;
    const bandwidth = this.options.bandwidthBytesPerS ?? GiB;
    for (const m of this.migrations) {
      if (m.status === 'queued' && now >= m.createdAt + setup / 2) m.status = 'preparing';
      if (m.status === 'preparing' && now >= m.createdAt + setup) {
        const armed = this.armed.get(m.serverId);
        if (armed) {
          this.armed.delete(m.serverId);
          this.fail(m, armed);
          continue;
        }
        m.status = 'running';
        m.passStart = m.createdAt + setup;
        m.passBytes = m.memoryBytes;
      }
      while (m.status === 'running') {
        const passEnd = m.passStart + (m.passBytes / bandwidth) * 1000;
        if (now < passEnd) break;
        m.sentBefore += m.passBytes;
        if (m.finalPass) {
          this.complete(m, passEnd);
          break;
        }
        const dirtied = m.forced
          ? 0
          : Math.min(m.memoryBytes, (m.dirtyBytesPerS * (passEnd - m.passStart)) / 1000);
        // QEMU's rule: switch over once the rest fits in the downtime limit (0.5 s here).
        m.finalPass = m.forced || dirtied <= bandwidth * 0.5;
        m.pass += 1;
        m.passStart = passEnd;
        m.passBytes = dirtied;
      }
    }
  }

  private counters(m: StubMigration): { total: number; processed: number; remaining: number } | undefined {
    if (m.status !== 'running') return undefined;
    const bandwidth = this.options.bandwidthBytesPerS ?? GiB;
    const sent = Math.min(m.passBytes, Math.max(0, ((this.now() - m.passStart) * bandwidth) / 1000));
    return {
      total: m.memoryBytes,
      processed: Math.round(m.sentBefore + sent),
      remaining: Math.round(m.passBytes - sent),
    };
  }

  private complete(m: StubMigration, at: number): void {
    const server = this.servers.get(m.serverId)!;
    m.status = 'completed';
    m.updatedAt = at;
    server.host = m.dest!;
    server.status = 'ACTIVE';
    server.taskState = null;
    this.actionOf(m)?.events.push(event('compute_live_migration', 'Success', at, m.source, null));
  }

  private fail(m: StubMigration, failure: ArmedFailure): void {
    const server = this.servers.get(m.serverId)!;
    const now = this.now();
    m.status = 'error';
    m.updatedAt = now;
    if (!failure.stuck) {
      server.status = 'ACTIVE';
      server.taskState = null;
    }
    const traceback = `Traceback (most recent call last):\n  File "nova/virt/libvirt/driver.py", line 10210, in _live_migration_operation\n${failure.cause}`;
    this.actionOf(m)?.events.push(event('compute_live_migration', 'Error', now, m.source, traceback));
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
        (h) => h.name !== server.host && h.status === 'enabled' && h.state === 'up' && !avoid.has(h.name),
      )
      .sort((a, b) => this.freeRamMb(b) - this.freeRamMb(a))[0];
  }

  private freeRamMb(h: StubHost): number {
    return (
      h.memoryMb -
      [...this.servers.values()].filter((s) => s.host === h.name).reduce((n, s) => n + s.ramMb, 0)
    );
  }

  // --- JSON shapes -------------------------------------------------------------------------------

  private hypervisorJson(h: StubHost, query: URLSearchParams): Record<string, unknown> {
    const servers = [...this.servers.values()].filter((s) => s.host === h.name);
    const usedMb = servers.reduce((n, s) => n + s.ramMb, 0);
    const json: Record<string, unknown> = {
      cpu_info: {
        arch: 'x86_64',
        model: h.cpuModel,
        vendor: 'Intel',
        features: ['pge', 'clflush'],
        topology: { cores: h.vcpus / 2, threads: 2, sockets: 1 },
      },
      current_workload: 0,
      status: h.status,
      state: h.state,
      disk_available_least: 900,
      host_ip: '192.0.2.10',
      free_disk_gb: 1000,
      free_ram_mb: h.memoryMb - usedMb,
      hypervisor_hostname: `${h.name}.example.org`,
      hypervisor_type: 'QEMU',
      hypervisor_version: 9002000,
      id: h.hypervisorId,
      local_gb: 1028,
      local_gb_used: 28,
      memory_mb: h.memoryMb,
      memory_mb_used: usedMb + 512,
      running_vms: servers.length,
      service: { host: h.name, id: h.serviceId, disabled_reason: h.disabledReason },
      vcpus: h.vcpus,
      vcpus_used: servers.reduce((n, s) => n + s.vcpus, 0),
    };
    // Nova omits "servers" for a hypervisor without any.
    if (query.get('with_servers') === 'true' && servers.length > 0)
      json.servers = servers.map((s) => ({ name: s.name, uuid: s.id }));
    return json;
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

  private serverJson(s: StubServer): Record<string, unknown> {
    const host = this.hosts.get(s.host)!;
    return {
      'OS-DCF:diskConfig': 'AUTO',
      'OS-EXT-AZ:availability_zone': host.az,
      'OS-EXT-SRV-ATTR:host': s.host,
      'OS-EXT-SRV-ATTR:hostname': s.name,
      'OS-EXT-SRV-ATTR:hypervisor_hostname': `${s.host}.example.org`,
      'OS-EXT-SRV-ATTR:instance_name': `instance-${s.id.slice(0, 8)}`,
      'OS-EXT-STS:power_state': 1,
      'OS-EXT-STS:task_state': s.taskState,
      'OS-EXT-STS:vm_state': s.status === 'MIGRATING' ? 'active' : s.status.toLowerCase(),
      'OS-SRV-USG:launched_at': '2026-01-05T10:00:00.000000',
      'OS-SRV-USG:terminated_at': null,
      accessIPv4: '',
      accessIPv6: '',
      addresses: {},
      config_drive: '',
      created: '2026-01-05T09:59:00Z',
      description: null,
      flavor: {
        disk: 20,
        ephemeral: 0,
        extra_specs: {},
        original_name: `m1.c${s.vcpus}r${s.ramMb}`,
        ram: s.ramMb,
        swap: 0,
        vcpus: s.vcpus,
      },
      hostId: s.host.padEnd(56, '0').slice(0, 56),
      host_status: host.state === 'up' ? 'UP' : 'DOWN',
      id: s.id,
      image: '',
      key_name: null,
      links: [{ href: `${this.computeUrl}/servers/${s.id}`, rel: 'self' }],
      locked: false,
      locked_reason: null,
      metadata: {},
      name: s.name,
      'os-extended-volumes:volumes_attached': [],
      progress: 0,
      security_groups: [{ name: 'default' }],
      server_groups: s.groupId ? [s.groupId] : [],
      status: s.status,
      tags: [],
      tenant_id: PROJECT_ID,
      trusted_image_certificates: null,
      updated: '2026-01-05T10:00:00Z',
      user_id: USER_ID,
    };
  }

  private groupJson(g: StubGroup): Record<string, unknown> {
    return {
      id: g.id,
      name: g.name,
      policy: g.policy,
      rules: {},
      members: [...this.servers.values()].filter((s) => s.groupId === g.id).map((s) => s.id),
      project_id: PROJECT_ID,
      user_id: USER_ID,
    };
  }

  private serverMigrationJson(m: StubMigration): Record<string, unknown> {
    const c = this.counters(m);
    return {
      created_at: novaTime(m.createdAt),
      dest_compute: m.dest,
      dest_host: m.dest ? '192.0.2.20' : null,
      dest_node: m.dest ? `${m.dest}.example.org` : null,
      id: m.id,
      server_uuid: m.serverId,
      source_compute: m.source,
      source_node: `${m.source}.example.org`,
      status: m.status,
      memory_total_bytes: c?.total ?? null,
      memory_processed_bytes: c?.processed ?? null,
      memory_remaining_bytes: c?.remaining ?? null,
      disk_total_bytes: c ? 0 : null,
      disk_processed_bytes: c ? 0 : null,
      disk_remaining_bytes: c ? 0 : null,
      updated_at: novaTime(m.updatedAt),
      uuid: m.uuid,
      user_id: USER_ID,
      project_id: PROJECT_ID,
    };
  }

  private migrationRecordJson(m: StubMigration): Record<string, unknown> {
    return {
      created_at: novaTime(m.createdAt),
      dest_compute: m.dest,
      dest_host: m.dest ? '192.0.2.20' : null,
      dest_node: m.dest ? `${m.dest}.example.org` : null,
      id: m.id,
      instance_uuid: m.serverId,
      new_instance_type_id: 1,
      old_instance_type_id: 1,
      source_compute: m.source,
      source_node: `${m.source}.example.org`,
      status: m.status,
      migration_type: 'live-migration',
      updated_at: novaTime(m.updatedAt),
      uuid: m.uuid,
      user_id: USER_ID,
      project_id: PROJECT_ID,
    };
  }

  // --- helpers -----------------------------------------------------------------------------------

  private inProgressOf(serverId: string): StubMigration[] {
    return this.migrations.filter((m) => m.serverId === serverId && IN_PROGRESS.includes(m.status));
  }

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

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
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

function parseMicroversion(req: IncomingMessage): string | undefined {
  const modern = req.headers['openstack-api-version'];
  if (typeof modern === 'string') {
    const match = /^compute\s+(\d+\.\d+)$/.exec(modern.trim());
    if (match) return match[1];
  }
  const legacy = req.headers['x-openstack-nova-api-version'];
  return typeof legacy === 'string' ? legacy.trim() : undefined;
}

function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

/** Path segments that name a resource rather than an id. */
function isKeyword(segment: string): boolean {
  return ['detail', 'action', 'migrations', 'os-instance-actions'].includes(segment);
}

const FAULT_KEYS: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  406: 'notAcceptable',
  409: 'conflictingRequest',
  500: 'computeFault',
  503: 'serviceUnavailable',
};

function faultBody(status: number, message: string): unknown {
  const text =
    status >= 500 && message === 'injected by the test'
      ? 'Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.'
      : message;
  return { [FAULT_KEYS[status] ?? 'computeFault']: { code: status, message: text } };
}

function keystoneError(err: HttpError): unknown {
  const title = err.status === 401 ? 'Unauthorized' : err.status === 404 ? 'Not Found' : 'Error';
  return { error: { code: err.status, message: err.message, title } };
}

function versionDoc(base: string, id: string, max: string): Record<string, unknown> {
  return {
    id: `v${id}`,
    links: [{ href: `${base}/compute/v${id === '2.0' ? '2' : '2.1'}/`, rel: 'self' }],
    status: id === '2.1' ? 'CURRENT' : 'SUPPORTED',
    version: max,
    min_version: max === '' ? '' : '2.1',
    updated: id === '2.1' ? '2013-07-23T11:33:21Z' : '2011-01-21T11:33:21Z',
  };
}

function serviceJson(h: StubHost): Record<string, unknown> {
  return {
    id: h.serviceId,
    binary: 'nova-compute',
    disabled_reason: h.disabledReason,
    host: h.name,
    state: h.state,
    status: h.status,
    updated_at: '2026-01-05T10:00:00.000000',
    forced_down: false,
    zone: h.az,
  };
}

function event(
  name: string,
  result: string | null,
  at: number,
  host: string,
  traceback: string | null,
): StubEvent {
  return { event: name, result, start_time: novaTime(at), finish_time: novaTime(at), traceback, host };
}

/** Nova's timestamps: `2016-01-29T13:42:02.000000`. */
function novaTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000`;
}

/** Keystone's: `2015-11-06T15:32:17.893769Z`. */
function keystoneTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}
