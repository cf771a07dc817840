import { z } from 'zod';
import { bounded, inUnits, LIMITS, type Limit } from '../../config.js';
import { ForbiddenError } from '../../errors.js';
import { GiB } from '../../model.js';

/**
 * The shapes ferry reads from Keystone v3, Nova (microversions 2.80 to 2.104) and Placement,
 * after the API reference and its samples (test/engine/drivers/nova/samples.test.ts feeds every
 * reference sample through them). Objects are not strict: newer clouds add fields, and only the
 * fields read here are checked. A reply that does not fit throws DriverReplyError naming the
 * field (see http.ts).
 */

const nullableString = z.string().nullable();

/**
 * Numbers from Nova never pass through the config's validation, yet the planner sizes plans
 * with them: each is held to the config's physical limit (LIMITS), so `ram: 1e308` is a
 * DriverReplyError naming the field, not a plan that never ends.
 */
const count = (limit: Limit) => bounded({ ...limit, above: undefined, min: 0, int: true });
/** The config's memory limit in Nova's unit. */
export const MEMORY_MIB = inUnits(LIMITS.memoryGiB, 1024, 'MiB');
/**
 * Byte counters are null until the compute host reports them. What is sent repeats dirtied
 * pages and may exceed the size: it is held only to what a double counts exactly.
 */
const memoryBytes = count(inUnits(LIMITS.memoryGiB, GiB, 'bytes')).nullable();
const diskBytes = count(inUnits(LIMITS.diskGiB, GiB, 'bytes')).nullable();
const sentBytes = z
  .number()
  .int()
  .nonnegative()
  .max(Number.MAX_SAFE_INTEGER, 'an exact byte count')
  .nullable();

export const linksSchema = z.array(z.object({ href: z.string(), rel: z.string() }));

/**
 * What Nova answers (2.69+) for a record whose cell database does not answer: the status
 * `UNKNOWN` and only the fields the API database knows; everything else is missing.
 */
const UNKNOWN = z.literal('UNKNOWN');

// --- Keystone ---------------------------------------------------------------------------------

export const catalogEndpointSchema = z.object({
  interface: z.string(),
  region: nullableString.optional(),
  region_id: nullableString.optional(),
  url: z.string(),
});

export const tokenResponseSchema = z.object({
  token: z.object({
    expires_at: z.string(),
    catalog: z
      .array(
        z.object({
          type: z.string(),
          name: z.string().optional(),
          endpoints: z.array(catalogEndpointSchema),
        }),
      )
      .default([]),
  }),
});

export type CatalogEndpoint = z.infer<typeof catalogEndpointSchema>;
export type TokenResponse = z.infer<typeof tokenResponseSchema>;

/** Keystone's error body: `{"error": {"code": 401, "message": ..., "title": ...}}`. */
export const keystoneErrorSchema = z.object({
  error: z.object({ code: z.number().optional(), message: z.string(), title: z.string().optional() }),
});

// --- Compute: version discovery -----------------------------------------------------------------

const versionSchema = z.object({
  id: z.string(),
  status: z.string(),
  /** Highest microversion, or "" for an API without microversions. */
  version: z.string(),
  min_version: z.string(),
});

/** GET of the v2.1 root (`{"version": ...}`) or of the unversioned root (`{"versions": [...]}`). */
export const versionDiscoverySchema = z.union([
  z.object({ version: versionSchema }),
  z.object({ versions: z.array(versionSchema) }),
]);

export type ApiVersion = z.infer<typeof versionSchema>;

/** Nova's fault body: one key (`conflictingRequest`, `badRequest`, ...) holding code and message. */
export const novaFaultSchema = z.record(
  z.string(),
  z.object({ code: z.number().optional(), message: z.string() }),
);

// --- Compute: hosts -------------------------------------------------------------------------------

export const hypervisorSchema = z.object({
  /** A UUID since 2.53: the compute node's, which is also its Placement resource provider's. */
  id: z.string(),
  hypervisor_hostname: z.string(),
  status: z.enum(['enabled', 'disabled']),
  state: z.enum(['up', 'down']),
  /** Up to 2.87 only: from 2.88 on capacity is Placement's (inventories and usages). */
  vcpus: count(LIMITS.vcpus).optional(),
  memory_mb: count(MEMORY_MIB).optional(),
  /** An object since 2.28, up to 2.87; empty for drivers that report nothing. */
  cpu_info: z.object({ model: z.string().optional() }).or(z.string()).optional(),
  service: z.object({ host: z.string(), id: z.string(), disabled_reason: nullableString }),
  servers: z.array(z.object({ name: z.string(), uuid: z.string() })).optional(),
});

export const hypervisorListSchema = z.object({
  hypervisors: z.array(hypervisorSchema),
  hypervisors_links: linksSchema.optional(),
});

export type Hypervisor = z.infer<typeof hypervisorSchema>;

const fullServiceSchema = z.object({
  id: z.string(),
  binary: z.string(),
  host: z.string(),
  status: z.enum(['enabled', 'disabled']),
  state: z.enum(['up', 'down']),
  disabled_reason: nullableString,
  zone: z.string().optional(),
});

/** A service of a cell that does not answer (2.69+): binary, host and `UNKNOWN`, nothing else. */
const downCellServiceSchema = z.object({ binary: z.string(), host: z.string(), status: UNKNOWN });

export const serviceSchema = z.union([fullServiceSchema, downCellServiceSchema]);
export const serviceListSchema = z.object({ services: z.array(serviceSchema) });
/** PUT answers for a service it could change: never a down-cell shape. */
export const serviceResponseSchema = z.object({ service: fullServiceSchema });

export type Service = z.infer<typeof fullServiceSchema>;
export type DownCellService = z.infer<typeof downCellServiceSchema>;
export type AnyService = z.infer<typeof serviceSchema>;

export const availabilityZoneListSchema = z.object({
  availabilityZoneInfo: z.array(
    z.object({
      zoneName: z.string(),
      zoneState: z.object({ available: z.boolean() }),
      /** host -> service binary -> state; null for a zone without hosts. */
      hosts: z.record(z.string(), z.record(z.string(), z.unknown())).nullable(),
    }),
  ),
});

// --- Compute: servers and groups -----------------------------------------------------------------

const fullServerSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string().refine((s) => s !== 'UNKNOWN'),
  /**
   * Admins only (policy os_compute_api:os-extended-server-attributes): absent for anyone else,
   * as in the 2.90+ samples, which show a non-admin's view. ferry refuses such a view (hostOf).
   */
  'OS-EXT-SRV-ATTR:host': nullableString.optional(),
  'OS-EXT-STS:task_state': nullableString,
  'OS-EXT-STS:vm_state': z.string(),
  'OS-EXT-AZ:availability_zone': z.string().optional(),
  /** Embedded since 2.47. */
  flavor: z.object({
    vcpus: bounded(LIMITS.vcpus),
    ram: bounded({ ...MEMORY_MIB, int: true }),
    original_name: z.string().optional(),
  }),
  /** In GET /servers/{id} since 2.71 (never in lists): ids of the server's groups (at most one). */
  server_groups: z.array(z.string()).optional(),
  locked: z.boolean().optional(),
});

/**
 * A server of a cell that does not answer (2.69+): in lists id, status and links (tenant_id and
 * created in details); GET /servers/{id} adds flavor, image, zone, power state and, 2.71+, groups.
 * Never its name or host.
 */
const downCellServerSchema = z.object({
  id: z.string(),
  status: UNKNOWN,
  flavor: z.object({ vcpus: z.number().int(), ram: z.number().int() }).optional(),
});

export const serverSchema = z.union([fullServerSchema, downCellServerSchema]);

export const serverListSchema = z.object({
  servers: z.array(serverSchema),
  servers_links: linksSchema.optional(),
});
export const serverResponseSchema = z.object({ server: serverSchema });

export type Server = z.infer<typeof fullServerSchema>;
export type DownCellServer = z.infer<typeof downCellServerSchema>;
export type AnyServer = z.infer<typeof serverSchema>;

/** The server's host; a view without it (not an admin) is refused, naming the policy. */
export function hostOf(server: Server): string | null {
  const host = server['OS-EXT-SRV-ATTR:host'];
  if (host === undefined)
    throw new ForbiddenError(
      `Nova does not show the host of server ${server.id} to ferry's account: ferry needs the ` +
        'os_compute_api:os-extended-server-attributes policy (admin by default)',
    );
  return host;
}

export function isDownCell<T extends { status: string }>(
  record: T,
): record is Extract<T, { status: 'UNKNOWN' }> {
  return record.status === 'UNKNOWN';
}

export const serverGroupSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** Since 2.64: one policy string (affinity, anti-affinity, soft-affinity, soft-anti-affinity). */
  policy: z.string(),
  members: z.array(z.string()),
});

/** os-server-groups pages by limit and offset and gives no links. */
export const serverGroupListSchema = z.object({ server_groups: z.array(serverGroupSchema) });

export type ServerGroup = z.infer<typeof serverGroupSchema>;

// --- Compute: migrations ---------------------------------------------------------------------------

/** GET /servers/{id}/migrations[/{mid}]: in-progress live migrations only. */
export const serverMigrationSchema = z.object({
  id: z.number().int(),
  server_uuid: z.string(),
  status: z.string(),
  source_compute: nullableString,
  dest_compute: nullableString,
  memory_total_bytes: memoryBytes,
  memory_processed_bytes: sentBytes,
  memory_remaining_bytes: memoryBytes,
  disk_total_bytes: diskBytes,
  disk_processed_bytes: sentBytes,
  disk_remaining_bytes: diskBytes,
  created_at: z.string(),
  updated_at: nullableString,
});

export const serverMigrationResponseSchema = z.object({ migration: serverMigrationSchema });
export const serverMigrationListSchema = z.object({ migrations: z.array(serverMigrationSchema) });

export type ServerMigration = z.infer<typeof serverMigrationSchema>;

/** GET /os-migrations: every migration of any status (the history). */
export const migrationRecordSchema = z.object({
  id: z.number().int(),
  instance_uuid: z.string(),
  status: z.string(),
  migration_type: z.string(),
  source_compute: nullableString,
  dest_compute: nullableString,
  created_at: z.string(),
  updated_at: nullableString,
});

/** Pages (2.59+) by limit and a migration uuid as marker, with `migrations_links`. */
export const migrationRecordListSchema = z.object({
  migrations: z.array(migrationRecordSchema),
  migrations_links: linksSchema.optional(),
});

export type MigrationRecord = z.infer<typeof migrationRecordSchema>;

// --- Compute: instance actions ---------------------------------------------------------------------

export const instanceActionSchema = z.object({
  action: z.string(),
  request_id: z.string(),
  message: nullableString,
  start_time: z.string(),
});

/** Pages (2.58+) by limit and a request id as marker, with `links`. */
export const instanceActionListSchema = z.object({
  instanceActions: z.array(instanceActionSchema),
  links: linksSchema.optional(),
});

export const instanceActionDetailSchema = z.object({
  instanceAction: instanceActionSchema.extend({
    events: z
      .array(
        z.object({
          event: z.string(),
          result: nullableString,
          start_time: z.string(),
          finish_time: nullableString,
          /** Admins only. */
          traceback: nullableString.optional(),
          host: z.string().optional(),
        }),
      )
      .default([]),
  }),
});

export type InstanceActionDetail = z.infer<typeof instanceActionDetailSchema>['instanceAction'];

// --- Placement -------------------------------------------------------------------------------------

const inventorySchema = z.object({
  total: z.number().int().nonnegative(),
  reserved: z.number().int().nonnegative(),
  allocation_ratio: z.number().positive(),
});

/** GET /resource_providers/{uuid}/inventories: one entry per resource class. */
export const inventoriesSchema = z.object({
  resource_provider_generation: z.number().int(),
  inventories: z.record(z.string(), inventorySchema),
});

/** GET /resource_providers/{uuid}/usages: the sum of allocations per resource class. */
export const usagesSchema = z.object({
  resource_provider_generation: z.number().int(),
  usages: z.record(z.string(), z.number().nonnegative()),
});

export type Inventory = z.infer<typeof inventorySchema>;
