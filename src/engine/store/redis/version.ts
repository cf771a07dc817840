/**
 * The formats of what this ferry writes to Redis, in one place.
 *
 * The keyspace has a version (`P:schema`, store.ts `prepare`): the layout of its key families,
 * including the ones that hold no JSON (the indexes, the active set, host locks, commit marks,
 * event streams' ids). Version 1 is what ferry wrote before versions; version 2 added the index of
 * open evacuations and the expiry of finished ones. A process refuses at start a keyspace newer
 * than SCHEMA_VERSION.
 *
 * Every JSON record and event has a version of its own kind, below: the version its records are
 * written with now, as `v` (schemas.ts `encode`). A record without `v` is version 1, the form
 * before versions. A reader takes its kind's version and every older one (upgraded on the way in)
 * and refuses a newer one with SchemaVersionError, never reading it as an older shape. A kind's
 * version moves only when its shape or meaning changes, so a process keeps reading the kinds a
 * newer release left alone while both run during a rolling upgrade.
 */
export const SCHEMA_VERSION = 2;

export const RECORD_VERSIONS = {
  evacuation: 2,
  migration: 2,
  event: 2,
  approval: 2,
  decision: 2,
  audit: 2,
  campaign: 2,
  plan: 2,
  fleet: 2,
  fleetFailure: 2,
  // New with versions: no older ferry reads it, so it is stamped from its first shape.
  recoveryRequest: 2,
  // Still version 1, the form without `v`: a version-1 ferry reads these three with strict
  // schemas and would refuse a `v` on them (its runner then fails the evacuation's job) while old
  // and new processes run side by side. Their next change of shape stamps them (v: 2 or later),
  // which this version already refuses as newer than it knows.
  control: 1,
  maintenanceAnswer: 1,
  planUse: 1,
} as const;

/** A kind of record ferry stores as JSON. */
export type RecordKind = keyof typeof RECORD_VERSIONS;
