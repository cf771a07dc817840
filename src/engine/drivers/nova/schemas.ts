import { z } from 'zod';

/**
 * The shapes ferry reads from Keystone v3 and Nova (microversions 2.80 to 2.87), after the
 * API reference and its samples. Objects are not strict: newer clouds add fields, and only the
 * fields read here are checked. A reply that does not fit throws DriverReplyError naming the
 * field (see http.ts).
 */

const nullableString = z.string().nullable();
/** Byte counters are null until the compute host reports them. */
const byteCount = z.number().int().nonnegative().nullable();

const linksSchema = z.array(z.object({ href: z.string(), rel: z.string() }));

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
  id: z.string(),
  hypervisor_hostname: z.string(),
  status: z.enum(['enabled', 'disabled']),
  state: z.enum(['up', 'down']),
  vcpus: z.number().int().nonnegative(),
  memory_mb: z.number().int().nonnegative(),
  memory_mb_used: z.number().int().optional(),
  /** An object since 2.28; empty for drivers that report nothing. */
  cpu_info: z.object({ model: z.string().optional() }).or(z.string()).optional(),
  service: z.object({ host: z.string(), id: z.string(), disabled_reason: nullableString }),
  servers: z.array(z.object({ name: z.string(), uuid: z.string() })).optional(),
});

export const hypervisorListSchema = z.object({
  hypervisors: z.array(hypervisorSchema),
  hypervisors_links: linksSchema.optional(),
});

export type Hypervisor = z.infer<typeof hypervisorSchema>;

export const serviceSchema = z.object({
  id: z.string(),
  binary: z.string(),
  host: z.string(),
  status: z.enum(['enabled', 'disabled']),
  state: z.enum(['up', 'down']),
  disabled_reason: nullableString,
  zone: z.string().optional(),
});

export const serviceListSchema = z.object({ services: z.array(serviceSchema) });
export const serviceResponseSchema = z.object({ service: serviceSchema });

export type Service = z.infer<typeof serviceSchema>;

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

export const serverSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string(),
  'OS-EXT-SRV-ATTR:host': nullableString,
  'OS-EXT-STS:task_state': nullableString,
  'OS-EXT-STS:vm_state': z.string(),
  'OS-EXT-AZ:availability_zone': z.string().optional(),
  /** Embedded since 2.47. */
  flavor: z.object({
    vcpus: z.number().int().positive(),
    ram: z.number().int().positive(),
    original_name: z.string().optional(),
  }),
  /** Since 2.71: ids of the server's groups (at most one). */
  server_groups: z.array(z.string()).default([]),
  locked: z.boolean().optional(),
});

export const serverListSchema = z.object({
  servers: z.array(serverSchema),
  servers_links: linksSchema.optional(),
});
export const serverResponseSchema = z.object({ server: serverSchema });

export type Server = z.infer<typeof serverSchema>;

export const serverGroupSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** Since 2.64: one policy string (affinity, anti-affinity, soft-affinity, soft-anti-affinity). */
  policy: z.string(),
  members: z.array(z.string()),
});

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
  memory_total_bytes: byteCount,
  memory_processed_bytes: byteCount,
  memory_remaining_bytes: byteCount,
  disk_total_bytes: byteCount,
  disk_processed_bytes: byteCount,
  disk_remaining_bytes: byteCount,
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

export const migrationRecordListSchema = z.object({ migrations: z.array(migrationRecordSchema) });

export type MigrationRecord = z.infer<typeof migrationRecordSchema>;

// --- Compute: instance actions ---------------------------------------------------------------------

export const instanceActionSchema = z.object({
  action: z.string(),
  request_id: z.string(),
  message: nullableString,
  start_time: z.string(),
});

export const instanceActionListSchema = z.object({ instanceActions: z.array(instanceActionSchema) });

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
