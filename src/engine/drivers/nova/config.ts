import { z } from 'zod';

/** A Nova microversion such as `2.80`, compared as (major, minor) numbers. */
export const microversionSchema = z.string().regex(/^\d+\.\d+$/, 'a microversion such as 2.80');

/** The oldest and newest microversions whose response shapes the driver's schemas know. */
export const MIN_MICROVERSION = '2.80';
/** 2.88 drops vcpus, memory_mb and cpu_info from os-hypervisors, which inventory needs. */
export const MAX_MICROVERSION = '2.87';

/** Numeric comparison of two microversions: negative, zero or positive. */
export function compareMicroversions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

const text = z.string().min(1);

/** Keystone v3 `password` method, scoped to a project (by name and domain, or by id). */
const passwordAuthSchema = z
  .strictObject({
    type: z.literal('password'),
    username: text,
    password: text,
    userDomainName: text.default('Default'),
    projectName: text.optional(),
    projectId: text.optional(),
    projectDomainName: text.default('Default'),
  })
  .refine((a) => (a.projectName === undefined) !== (a.projectId === undefined), {
    message: 'give exactly one of projectName or projectId',
    path: ['projectName'],
  });

/**
 * Keystone v3 `application_credential` method: by id + secret, or by name + secret + the owning
 * user (an application credential is already scoped to its project).
 */
const applicationCredentialAuthSchema = z
  .strictObject({
    type: z.literal('application_credential'),
    id: text.optional(),
    name: text.optional(),
    secret: text,
    /** The owner, needed with `name`: by id, or by name + domain. */
    userId: text.optional(),
    username: text.optional(),
    userDomainName: text.default('Default'),
  })
  .refine((a) => (a.id === undefined) !== (a.name === undefined), {
    message: 'give exactly one of id or name',
    path: ['id'],
  })
  .refine((a) => a.name === undefined || a.userId !== undefined || a.username !== undefined, {
    message: 'an application credential given by name needs userId or username',
    path: ['username'],
  });

export const novaAuthSchema = z.discriminatedUnion('type', [
  passwordAuthSchema,
  applicationCredentialAuthSchema,
]);

/** The `nova:` config section: how ferry reaches Keystone and the Compute API. */
export const novaConfigSchema = z
  .strictObject({
    /** Keystone v3 URL, e.g. https://keystone.example.com:5000/v3 (`/auth/tokens` is appended). */
    authUrl: z.url(),
    auth: novaAuthSchema,
    /** Catalog region of the compute endpoint; any region when unset (the first match wins). */
    region: text.optional(),
    /** Catalog interface of the compute endpoint. */
    interface: z.enum(['public', 'internal', 'admin']).default('internal'),
    /** Microversion sent on every call; the cloud must support it (checked once per session). */
    microversion: microversionSchema.default(MIN_MICROVERSION),
    /**
     * Who picks the destination: `ferry` sends the planner's host in os-migrateLive (Nova still
     * checks it with its filters); `nova` sends no host and lets Nova's scheduler choose.
     */
    scheduler: z.enum(['ferry', 'nova']).default('ferry'),
    /** Limit for one HTTP call to Keystone or Nova. */
    requestTimeoutS: z.number().positive().default(30),
    /** A token is renewed this long before Keystone's expires_at. */
    tokenRenewBeforeS: z.number().nonnegative().default(300),
    /** How long `start` waits for Nova to show the migration it accepted. */
    startTimeoutS: z.number().positive().default(60),
    /** Nova does not know NIC speeds: every host's migration NIC line rate, Gb/s. */
    nicGbps: z.number().positive().default(10),
    /** Nova does not know guests' page-dirtying rates: the planner's assumption, MiB/s. */
    dirtyMiBps: z.number().nonnegative().default(10),
  })
  .refine(
    (c) =>
      compareMicroversions(c.microversion, MIN_MICROVERSION) >= 0 &&
      compareMicroversions(c.microversion, MAX_MICROVERSION) <= 0,
    {
      message: `the nova driver speaks microversions ${MIN_MICROVERSION} to ${MAX_MICROVERSION}`,
      path: ['microversion'],
    },
  );

export type NovaConfig = z.infer<typeof novaConfigSchema>;
export type NovaAuth = z.infer<typeof novaAuthSchema>;
