import type { QuietHorizon } from '../src/engine/clock.js';
import type { PolicyConfig } from '../src/engine/config.js';
import type { SimDriver, SimProgress } from '../src/engine/drivers/sim/index.js';
import { completionTimeoutMs, downtimeRamp, STALL_MARGIN } from '../src/engine/evacuation/policy.js';
import { FINAL_EVACUATION_STATES, prefersPostcopy } from '../src/engine/model.js';
import type { EngineStore, MigrationRecord } from '../src/engine/ports.js';

/**
 * The event-driven simulator: the whole engine runs as in the stepper, but the polls (the runners'
 * sample ticks, the bench's status loop) that would find nothing to act on are skipped. Between
 * two polls that matter the simulation runs event by event (a pass ends, a final copy ends), so
 * the cost follows the events, not the simulated seconds.
 *
 * A poll matters when the engine would decide something there, or record state that a later
 * decision reads; the policy (evacuation/policy.ts) decides only:
 *  - at its own deadlines: the next downtime-ramp step, the completion timeout, the stall
 *    timeout counted from the last new low, the end of auto-converge's grace period;
 *  - after a simulated event: a migration switched over, ended or failed, its rate changed, its
 *    first pass ended (planned auto-converge or post-copy, the stall clock's reset); a later pass
 *    end only while the stall timeout can fire before the completion timeout (pass starts are
 *    stall detection's samples) or while auto-converge may still be switched on (the dirty rate
 *    and the expected downtime are measured at pass ends);
 *  - while something moves every poll: an approval pending, a switchover or an abort under way,
 *    a migration started or ended (admission, the evacuation's end), an evacuation not draining;
 *  - during a first pass with the stall timeout live, every poll unless the remaining bytes fall
 *    by more than the stall margin well within one stall timeout: then the stall cannot fire,
 *    the lows in between only feed it, and the first pass's end resets them.
 * Skipping anything else changes no decision; it leaves out `migration.progress` events only
 * (the post-mortem's figures come from the migrations' ends). bench/compare.ts runs both and
 * compares, and a test holds them to the same outcomes.
 */
export function quietHorizon(deps: {
  store: EngineStore;
  driver: SimDriver;
  policy: PolicyConfig;
}): QuietHorizon {
  const { store, driver, policy } = deps;
  const pollMs = policy.sampleIntervalS * 1000;
  const stallMs = policy.stallTimeoutS * 1000;
  // Two polls of slack: a low is seen at the first poll after it, the stall at a poll.
  const stallWindowS = policy.stallTimeoutS - 2 * policy.sampleIntervalS;
  let seen = '';

  /** The stall timeout can fire before the completion timeout does. */
  const stallLive = (r: MigrationRecord) => stallMs < completionTimeoutMs(policy, r.migration.memoryBytes);

  /** The first policy deadline of a running migration (may be in the past). */
  const deadline = (r: MigrationRecord): number => {
    const w = r.watch;
    if (!w) return Number.NEGATIVE_INFINITY;
    if (w.switchedOver) return Number.POSITIVE_INFINITY;
    let at = w.startedAt + completionTimeoutMs(policy, r.migration.memoryBytes);
    if (w.rampStep < downtimeRamp(policy, r.move.downtimeSloMs).length - 1)
      at = Math.min(at, w.lastRampAt + policy.downtimeRampStepS * 1000);
    if (stallLive(r)) at = Math.min(at, w.bestRemainingAt + stallMs);
    if (w.autoConvergeAt !== undefined) at = Math.min(at, w.autoConvergeAt + stallMs);
    return at;
  };

  /** During a first pass: the remaining bytes fall fast enough that no stall can fire in it. */
  const strongProgress = (r: MigrationRecord, p: SimProgress): boolean => {
    const best = Math.max(r.watch?.bestRemainingBytes ?? 0, p.remainingBytes);
    const slope = p.rateBytesPerS - p.dirtyBytesPerS;
    return stallWindowS > 0 && slope * stallWindowS > 1.01 * STALL_MARGIN * best;
  };

  /** Whether a simulated event between two looks at migration `r` is one the engine acts on. */
  const matters = (r: MigrationRecord, before: SimProgress, after: SimProgress): boolean => {
    if (after.phase !== 'precopy' || after.rateBytesPerS !== before.rateBytesPerS) return true;
    if (after.iteration === before.iteration) return false;
    if (before.iteration <= 1 || stallLive(r)) return true;
    return policy.allowAutoConverge && !r.watch?.autoConverge;
  };

  /**
   * A post-copy that may still switch over during its first pass on its pre-approval (the
   * policy's earlyPostcopy): every poll may be the one, until it is spent or turned down.
   */
  const earlyPostcopyOpen = (r: MigrationRecord): boolean => {
    const w = r.watch;
    if (!r.early || !w || w.preApprovalSpent || w.switchedOver || w.approvalsAsked > 0) return false;
    if (r.early.decision && r.early.decision.outcome !== 'approved') return false;
    return r.move.prediction.strategy === 'postcopy' || prefersPostcopy(r.move);
  };

  return {
    pollMs,
    async until(now, limit) {
      const evacuations = (await store.listEvacuations()).filter(
        (e) => !FINAL_EVACUATION_STATES.includes(e.state),
      );
      const active = await store.activeMigrations();
      const signature = [
        ...evacuations.map((e) => `${e.request.id}:${e.state}`),
        ...active.map((r) => `${r.migration.id}:${r.migration.state}`),
      ].join(' ');
      if (signature !== seen) {
        seen = signature;
        return now;
      }
      // Nothing running (a campaign between steps, or over): whoever polls finds out next poll.
      if (evacuations.length === 0) return now;
      if (evacuations.some((e) => e.state !== 'draining' && e.state !== 'maintenance')) return now;
      let until = limit;
      for (const r of active) {
        if (r.migration.state !== 'running') return now;
        until = Math.min(until, deadline(r));
        if (until <= now) return now;
      }
      let progress = new Map(active.map((r) => [r.migration.id, driver.progress(r.migration.id)]));
      for (const r of active) {
        const p = progress.get(r.migration.id)!;
        if (p.phase === 'precopy' && p.iteration <= 1 && stallLive(r) && !strongProgress(r, p)) return now;
        if (p.phase === 'precopy' && p.iteration <= 1 && earlyPostcopyOpen(r)) return now;
      }
      // On to the next event while none matters; never past a sleep that is not a poll (the
      // engine calls the driver then) nor a deadline.
      for (;;) {
        const at = driver.nextEventAt();
        if (at === undefined || at >= until) return Number.isFinite(until) ? until : now;
        const reached = driver.runToNextEvent(until);
        const next = new Map(active.map((r) => [r.migration.id, driver.progress(r.migration.id)]));
        for (const r of active)
          if (matters(r, progress.get(r.migration.id)!, next.get(r.migration.id)!)) return reached;
        progress = next;
      }
    },
  };
}
