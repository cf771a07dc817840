/**
 * Every Redis key ferry's engine uses, in one place. All share the configured prefix (default
 * `{ferry}`, a Cluster hash tag), so multi-key scripts stay in one slot, BullMQ's keys included.
 *
 * | key                                 | type   | holds                                         |
 * |-------------------------------------|--------|-----------------------------------------------|
 * | P:evac:<id>                         | string | Evacuation JSON                               |
 * | P:evacs                             | zset   | evacuation ids, score = creation order        |
 * | P:evacs:seq                         | string | counter behind that order                     |
 * | P:evacs:open                        | set    | ids of evacuations not ended (status, planning)|
 * | P:evacs:indexed                     | string | highest order number P:evacs:open has seen    |
 * | P:evacs:expiry                      | zset   | ended ids, score = when their records expire  |
 * | P:schema                            | string | schema version of the keyspace (version.ts)   |
 * | P:mig:<evacuationId>:<instance>     | string | MigrationRecord JSON                          |
 * | P:active                            | set    | ids of migrations started and not ended       |
 * | P:admission                         | string | token of the evacuation admitting right now   |
 * | P:events:<evacuationId>             | stream | FerryEvents, entry id `<n>-0` for the n-th    |
 * | P:approval:<id>                     | string | ApprovalRequest JSON (first request wins)     |
 * | P:approval:<id>:decision            | string | ApprovalDecision JSON (first decision wins)   |
 * | P:approvals:<evacuationId>          | set    | ids of the evacuation's approval requests     |
 * | P:control:<evacuationId>            | string | latest {command, by}                          |
 * | P:maintenance:<evacuationId>:<n>    | string | operator's answer to attempt n (first wins)   |
 * | P:recover:<migrationId>:<n>         | string | {by}: post-copy recovery n asked (first wins) |
 * | P:hostlock:<host>                   | string | id of the open evacuation holding the host    |
 * | P:campaign:<id>                     | string | Campaign JSON (compare-and-set by version)    |
 * | P:campaigns                         | zset   | campaign ids, score = creation order          |
 * | P:campaigns:seq                     | string | counter behind that order                     |
 * | P:plan:<id>                         | string | IssuedPlan JSON (a preview awaiting Confirm)  |
 * | P:plan:<id>:used                    | string | {use, by, at}: its nonce is spent (first wins)|
 * | P:audit                             | stream | AuditEntry JSON, Redis-time ids (trimmed)     |
 * | P:commit:<uuid>                     | string | commits applied in the last hour (dedupe)     |
 * | P:settled                           | string | marker a reader WAITs on (replication.ts, TTL)|
 * | P:fleet                             | string | the workers' latest inventory (TTL, fleet.ts) |
 * | P:fleet:failure                     | string | why a worker's last inventory failed (TTL)    |
 * | P:evacuations:*                     | BullMQ | the `evacuations` queue (jobId = evac id)     |
 */
export class Keys {
  constructor(readonly prefix: string) {}

  evacuation(id: string): string {
    return `${this.prefix}:evac:${id}`;
  }

  /** Written and WAITed on by a reader that must not act on a state a failover could take back. */
  settled(): string {
    return `${this.prefix}:settled`;
  }

  evacuationIndex(): string {
    return `${this.prefix}:evacs`;
  }

  evacuationSeq(): string {
    return `${this.prefix}:evacs:seq`;
  }

  /** Ids of open evacuations: status and planning read these, never every evacuation ever stored. */
  openEvacuations(): string {
    return `${this.prefix}:evacs:open`;
  }

  /** The highest order number (P:evacs score) the open index has taken in (store.ts, OPEN). */
  openIndexed(): string {
    return `${this.prefix}:evacs:indexed`;
  }

  /** Ended evacuations by when their records expire: expired ids leave P:evacs too. */
  evacuationExpiry(): string {
    return `${this.prefix}:evacs:expiry`;
  }

  /** The keyspace's schema version (version.ts), written by the first process of a version. */
  schema(): string {
    return `${this.prefix}:schema`;
  }

  /** Held while one evacuation admits migrations (reads the links, starts moves, commits). */
  admission(): string {
    return `${this.prefix}:admission`;
  }

  /** Ids of migrations started and not ended, across evacuations (admission counts them all). */
  activeMigrations(): string {
    return `${this.prefix}:active`;
  }

  migration(id: string): string {
    return `${this.prefix}:mig:${id}`;
  }

  events(evacuationId: string): string {
    return `${this.prefix}:events:${evacuationId}`;
  }

  approval(id: string): string {
    return `${this.prefix}:approval:${id}`;
  }

  /** The ids of one evacuation's approval requests, early and live. */
  approvalIndex(evacuationId: string): string {
    return `${this.prefix}:approvals:${evacuationId}`;
  }

  decision(approvalId: string): string {
    return `${this.prefix}:approval:${approvalId}:decision`;
  }

  control(evacuationId: string): string {
    return `${this.prefix}:control:${evacuationId}`;
  }

  campaign(id: string): string {
    return `${this.prefix}:campaign:${id}`;
  }

  campaignIndex(): string {
    return `${this.prefix}:campaigns`;
  }

  campaignSeq(): string {
    return `${this.prefix}:campaigns:seq`;
  }

  maintenanceAnswer(evacuationId: string, attempt: number): string {
    return `${this.prefix}:maintenance:${evacuationId}:${attempt}`;
  }

  /** Keyed by migration id (EVACUATION:VM), which holds the evacuation's id and so its hash tag. */
  recoveryRequest(migrationId: string, attempt: number): string {
    return `${this.prefix}:recover:${migrationId}:${attempt}`;
  }

  hostLock(host: string): string {
    return `${this.prefix}:hostlock:${host}`;
  }

  plan(id: string): string {
    return `${this.prefix}:plan:${id}`;
  }

  planUsed(id: string): string {
    return `${this.prefix}:plan:${id}:used`;
  }

  audit(): string {
    return `${this.prefix}:audit`;
  }

  commit(id: string): string {
    return `${this.prefix}:commit:${id}`;
  }

  /** The fleet the workers last read, for bots without a driver (store/redis/fleet.ts). */
  fleet(): string {
    return `${this.prefix}:fleet`;
  }

  fleetFailure(): string {
    return `${this.prefix}:fleet:failure`;
  }

  /** BullMQ's lock of a running job: `<prefix>:<queue>:<jobId>:lock`, holding the worker's token. */
  jobLock(queueName: string, jobId: string): string {
    return `${this.prefix}:${queueName}:${jobId}:lock`;
  }
}
