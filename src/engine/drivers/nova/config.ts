import { z } from 'zod';
import { bounded, LIMITS } from '../../config.js';
import { SECRETS, whereToSet } from '../../secrets.js';

/** A Nova microversion such as `2.80`, compared as (major, minor) numbers. */
export const microversionSchema = z.string().regex(/^\d+\.\d+$/, 'a microversion such as 2.80');

/**
 * The oldest and newest microversions the driver's schemas are tested against. 2.80 (Ussuri)
 * is the first with live-migration byte counters for every user and host-targeted
 * os-migrateLive without `force`; 2.104 is the newest in the Nova snapshot of the reference
 * samples. At 2.88+ hypervisors no longer report capacity: it comes from Placement.
 */
export const MIN_MICROVERSION = '2.80';
export const MAX_MICROVERSION = '2.104';
/** From this microversion on, os-hypervisors carries no vcpus/memory_mb/cpu_info. */
export const PLACEMENT_MICROVERSION = '2.88';
/** From this microversion on, records of a cell that does not answer come back as minimal shapes. */
export const DOWN_CELL_MICROVERSION = '2.69';

/** Numeric comparison of two microversions: negative, zero or positive. */
export function compareMicroversions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

/** Whether microversion `mv` is at least `since`. */
export function atLeast(mv: string, since: string): boolean {
  return compareMicroversions(mv, since) >= 0;
}

const text = z.string().min(1);
const exactlyOne = (values: unknown[]) => values.filter((v) => v !== undefined).length === 1;
const atMostOne = (values: unknown[]) => values.filter((v) => v !== undefined).length <= 1;

/**
 * Keystone v3 `password` method. The user by id, or by name in a domain (by name or id; the
 * Default domain when neither is given). The scope: a project (by id, or by name in a domain),
 * or the whole system (`system: all`, for clouds whose Nova policy accepts system tokens).
 */
const passwordAuthSchema = z
  .strictObject({
    type: z.literal('password'),
    username: text.optional(),
    userId: text.optional(),
    /** Better from the environment or a file than here (secrets.ts). */
    password: z.string({ error: `the password is not set: set ${whereToSet(SECRETS.novaPassword)}` }).min(1),
    userDomainName: text.optional(),
    userDomainId: text.optional(),
    projectName: text.optional(),
    projectId: text.optional(),
    projectDomainName: text.optional(),
    projectDomainId: text.optional(),
    system: z.literal('all').optional(),
  })
  .refine((a) => exactlyOne([a.username, a.userId]), {
    message: 'give exactly one of username or userId',
    path: ['username'],
  })
  .refine(
    (a) =>
      atMostOne([a.userDomainName, a.userDomainId]) &&
      (a.userId === undefined || (a.userDomainName ?? a.userDomainId) === undefined),
    {
      message:
        'a user by name takes at most one of userDomainName or userDomainId; a user by id takes neither',
      path: ['userDomainName'],
    },
  )
  .refine((a) => exactlyOne([a.projectName, a.projectId, a.system]), {
    message: 'give exactly one scope: projectName, projectId or system',
    path: ['projectName'],
  })
  .refine(
    (a) =>
      atMostOne([a.projectDomainName, a.projectDomainId]) &&
      (a.projectName !== undefined || (a.projectDomainName ?? a.projectDomainId) === undefined),
    {
      message: 'projectDomainName or projectDomainId (one of them) goes with projectName only',
      path: ['projectDomainName'],
    },
  );

/**
 * Keystone v3 `application_credential` method: by id + secret, or by name + secret + the owning
 * user (an application credential is already scoped to its project).
 */
const applicationCredentialAuthSchema = z
  .strictObject({
    type: z.literal('application_credential'),
    id: text.optional(),
    name: text.optional(),
    /** Better from the environment or a file than here (secrets.ts). */
    secret: z
      .string({ error: `the secret is not set: set ${whereToSet(SECRETS.novaApplicationCredentialSecret)}` })
      .min(1),
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
    /** Catalog interface of the compute (and placement) endpoint. */
    interface: z.enum(['public', 'internal', 'admin']).default('internal'),
    /** Microversion sent on every call; the cloud must support it (checked once per session). */
    microversion: microversionSchema.default(MIN_MICROVERSION),
    /**
     * A PEM file of CA certificates that sign Keystone's, Nova's and Placement's TLS
     * certificates (a private cloud CA), trusted in addition to the system's.
     */
    caFile: text.optional(),
    /**
     * Who picks the destination: `ferry` sends the planner's host in os-migrateLive (Nova still
     * checks it with its filters); `nova` sends no host and lets Nova's scheduler choose.
     */
    scheduler: z.enum(['ferry', 'nova']).default('ferry'),
    /** Limit for one HTTP call to Keystone, Nova or Placement. */
    requestTimeoutS: bounded(LIMITS.durationS).default(30),
    /** A token is renewed this long before Keystone's expires_at. */
    tokenRenewBeforeS: bounded({ ...LIMITS.durationS, above: undefined, min: 0 }).default(300),
    /** How long `start` waits for Nova to show the migration it accepted. */
    startTimeoutS: bounded(LIMITS.durationS).default(60),
    /** Nova does not know NIC speeds: every host's migration NIC line rate, Gb/s. */
    nicGbps: bounded(LIMITS.nicGbps).default(10),
    /** Nova does not know guests' page-dirtying rates: the planner's assumption, MiB/s. */
    dirtyMiBps: bounded(LIMITS.dirtyMiBps).default(10),
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
