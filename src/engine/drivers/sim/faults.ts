import { z } from 'zod';

/**
 * Faults the simulated fleet can be told to suffer, so the runner's failure paths are tested
 * against the same driver as its happy paths. A fault fires once; `afterMs` counts from the
 * moment the fault can first apply (see each kind), or from when it was injected if later.
 */

const name = z.string().min(1);
const afterMs = z.number().nonnegative().optional();

export const simFaultSchema = z.discriminatedUnion('kind', [
  /**
   * The migration link of `instance` drops. During pre-copy (`afterMs` from the migration's
   * start) the migration fails and the guest keeps running on the source; during post-copy
   * (`afterMs` from the switch) the guest, already running on the destination without all of its
   * memory, is lost.
   */
  z.strictObject({
    kind: z.literal('link-drop'),
    instance: name,
    during: z.enum(['precopy', 'postcopy']),
    afterMs,
  }),
  /**
   * `host` fails as a destination (`afterMs` from the start of the simulation): migrations into it
   * fail and their guests stay on the source; a guest already in post-copy towards it is lost;
   * later migrations into it are refused.
   */
  z.strictObject({ kind: z.literal('destination-failure'), host: name, afterMs }),
  /** The migration stream of `instance` stops moving bytes (`afterMs` from the migration's start). */
  z.strictObject({ kind: z.literal('stall'), instance: name, afterMs }),
  /** The next maintenance run on `host` reports failure with `output`. */
  z.strictObject({ kind: z.literal('maintenance-failure'), host: name, output: z.string().optional() }),
]);

export type SimFault = z.infer<typeof simFaultSchema>;

/** What a fault did, in an operator's words: the error of the sample that reports it. */
export const faultMessages = {
  linkDropPrecopy: (instance: string, from: string) =>
    `the migration link dropped during pre-copy; ${instance} keeps running on ${from}`,
  linkDropPostcopy: (instance: string, to: string) =>
    `the migration link dropped during post-copy; ${instance} was running on ${to} without all of its memory and is lost`,
  destinationFailed: (host: string) => `destination ${host} failed (simulated)`,
  destinationFailedPrecopy: (instance: string, host: string, from: string) =>
    `destination ${host} failed; ${instance} keeps running on ${from}`,
  destinationFailedPostcopy: (instance: string, host: string) =>
    `destination ${host} failed during post-copy; ${instance} was running there and is lost`,
};
