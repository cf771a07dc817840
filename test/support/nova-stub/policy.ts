import { HttpError } from './faults.js';

/**
 * Nova's and Placement's policy rules as the stub enforces them when a test denies some
 * (`NovaStub.denyPolicy`): the rule each route checks, as Nova's API code calls `context.can`.
 * A fatal rule answers 403 with Nova's message; a non-fatal one (extended server attributes,
 * instance-action events) leaves its fields out of the reply, as Nova does.
 */

/** The fatal rules of a compute route (`GET /servers/*`), given its query. */
export function computeRules(route: string, query: URLSearchParams, action?: string): string[] {
  const rule = (name: string) => `os_compute_api:${name}`;
  switch (route) {
    case 'GET /os-hypervisors/detail':
      return [rule('os-hypervisors:list-detail')];
    case 'GET /os-services':
      return [rule('os-services:list')];
    case 'PUT /os-services/*':
      return [rule('os-services:update')];
    case 'GET /os-availability-zone/detail':
      return [rule('os-availability-zone:detail')];
    case 'GET /servers/detail':
      return [
        rule('servers:detail'),
        ...(query.has('all_tenants') ? [rule('servers:detail:get_all_tenants')] : []),
      ];
    case 'GET /servers/*':
      return [rule('servers:show')];
    case 'GET /os-server-groups':
      return [rule('os-server-groups:index')];
    case 'POST /servers/*/action':
      return action === 'os-migrateLive' ? [rule('os-migrate-server:migrate_live')] : [];
    case 'GET /servers/*/migrations':
      return [rule('servers:migrations:index')];
    case 'GET /servers/*/migrations/*':
      return [rule('servers:migrations:show')];
    case 'POST /servers/*/migrations/*/action':
      return [rule('servers:migrations:force_complete')];
    case 'DELETE /servers/*/migrations/*':
      return [rule('servers:migrations:delete')];
    case 'GET /os-migrations':
      return [rule('os-migrations:index')];
    case 'GET /servers/*/os-instance-actions':
      return [rule('os-instance-actions:list')];
    case 'GET /servers/*/os-instance-actions/*':
      return [rule('os-instance-actions:show')];
    default:
      return [];
  }
}

/** The Placement rule of a resource provider's inventories or usages. */
export function placementRule(kind: 'inventories' | 'usages'): string {
  return kind === 'inventories'
    ? 'placement:resource_providers:inventories:list'
    : 'placement:resource_providers:usages';
}

/** Throws Nova's 403 for the first denied rule. */
export function enforce(rules: readonly string[], denied: ReadonlySet<string>): void {
  const refused = rules.find((r) => denied.has(r));
  if (refused) throw new HttpError(403, `Policy doesn't allow ${refused} to be performed.`);
}

const EXTENDED_ATTRIBUTES = 'os_compute_api:os-extended-server-attributes';
const ACTION_EVENTS = 'os_compute_api:os-instance-actions:events';

/** A reply body without the fields of the non-fatal rules `denied` names (changed in place). */
export function withoutDeniedFields(body: unknown, denied: ReadonlySet<string>): void {
  if (!body || typeof body !== 'object') return;
  const reply = body as {
    server?: Record<string, unknown>;
    servers?: Record<string, unknown>[];
    instanceAction?: Record<string, unknown>;
  };
  if (denied.has(EXTENDED_ATTRIBUTES))
    for (const server of [reply.server, ...(reply.servers ?? [])])
      if (server)
        for (const key of Object.keys(server)) if (key.startsWith('OS-EXT-SRV-ATTR:')) delete server[key];
  if (denied.has(ACTION_EVENTS) && reply.instanceAction) delete reply.instanceAction.events;
}
