/**
 * The format of what this ferry writes to Redis: every record and event carries it as `v`, and
 * the keyspace as a whole in `P:schema` (keys.ts, layout.ts). Version 1 is what ferry wrote
 * before records were versioned (no `v`); version 2 added `v` itself, the index of open
 * evacuations and the expiry of finished ones. A process reads its own version and every older
 * one, and refuses a newer one: a record written by a newer ferry is never misread.
 */
export const SCHEMA_VERSION = 2;
