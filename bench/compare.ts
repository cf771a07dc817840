import type { PostMortem } from '../src/engine/report.js';
import type { DrainFleet } from './fleets.js';
import type { ScenarioContext } from './scenarios.js';
import { drainOnSim, type SimRun } from './simulate.js';
import { policyFor } from './strategies.js';

/**
 * The event-driven simulator beside the stepper (`npm run bench -- --compare`, and a test): the
 * same drain by each strategy both ways, every migration's outcome side by side. They must agree:
 * the same states, durations and makespans within one poll (floating point can move an event
 * across a poll's tick), downtimes within a millisecond, bytes within a millionth.
 */

export interface ModeComparison {
  strategy: string;
  makespanS: { events: number; stepper: number };
  wallMs: { events: number; stepper: number };
  /** What differs beyond rounding, one line per difference; empty when they agree. */
  differences: string[];
}

/** What differs between two runs of the same drains beyond rounding (pollMs: one poll). */
export function runDifferences(events: SimRun, stepper: SimRun, pollMs: number): string[] {
  const out: string[] = [];
  if (Math.abs(events.makespanMs - stepper.makespanMs) > pollMs)
    out.push(`makespan ${events.makespanMs} ms (events) vs ${stepper.makespanMs} ms (stepper)`);
  const byInstance = (reports: readonly PostMortem[]) =>
    new Map(reports.flatMap((r) => r.migrations).map((m) => [`${m.instance}→${m.to}`, m]));
  const a = byInstance(events.reports);
  const b = byInstance(stepper.reports);
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key);
    const y = b.get(key);
    if (!x || !y) {
      out.push(`${key}: only in the ${x ? 'event-driven' : 'stepper'} run`);
      continue;
    }
    const close = (p: number | undefined, q: number | undefined, within: number) =>
      p === q || (p !== undefined && q !== undefined && Math.abs(p - q) <= within);
    if (x.state !== y.state || x.strategy !== y.strategy)
      out.push(`${key}: ${x.state} by ${x.strategy} (events) vs ${y.state} by ${y.strategy} (stepper)`);
    if (!close(x.durationMs, y.durationMs, pollMs))
      out.push(`${key}: took ${x.durationMs} ms (events) vs ${y.durationMs} ms (stepper)`);
    if (!close(x.downtimeMs, y.downtimeMs, 1))
      out.push(`${key}: downtime ${x.downtimeMs} ms (events) vs ${y.downtimeMs} ms (stepper)`);
    if (!close(x.bytesSent, y.bytesSent, 1e-6 * Math.max(x.bytesSent, y.bytesSent)))
      out.push(`${key}: sent ${x.bytesSent} B (events) vs ${y.bytesSent} B (stepper)`);
    if (x.passes !== y.passes) out.push(`${key}: ${x.passes} passes (events) vs ${y.passes} (stepper)`);
  }
  const approvals = (r: SimRun) => r.reports.reduce((n, p) => n + p.approvals.length, 0);
  if (approvals(events) !== approvals(stepper))
    out.push(`approvals: ${approvals(events)} (events) vs ${approvals(stepper)} (stepper)`);
  return out;
}

/** Drains `drain` with every strategy of `ctx`, event-driven and stepped. */
export async function compareModes(ctx: ScenarioContext, drain: DrainFleet): Promise<ModeComparison[]> {
  const rows: ModeComparison[] = [];
  for (const strategy of ctx.strategies) {
    const policy = policyFor(strategy, ctx.basePolicy);
    const run = (mode: 'events' | 'stepper') =>
      drainOnSim({
        fleet: drain.fleet,
        sources: [drain.source],
        policy,
        physicalCapGbps: ctx.basePolicy.streamCapGbps,
        seed: ctx.seed,
        maintenance: false,
        avoidRest: false,
        mode,
      });
    const events = await run('events');
    const stepper = await run('stepper');
    ctx.log(
      `compare ${strategy.name}: ${(events.makespanMs / 1000).toFixed(0)} s simulated in ${events.wallMs.toFixed(0)} ms (events), ${stepper.wallMs.toFixed(0)} ms (stepper)`,
    );
    rows.push({
      strategy: strategy.name,
      makespanS: { events: events.makespanMs / 1000, stepper: stepper.makespanMs / 1000 },
      wallMs: { events: events.wallMs, stepper: stepper.wallMs },
      differences: runDifferences(events, stepper, policy.sampleIntervalS * 1000),
    });
  }
  return rows;
}

/** The comparison as a markdown table, then every difference found. */
export function formatComparison(rows: readonly ModeComparison[]): string {
  const lines = [
    '### event-driven simulator vs stepper (drain-mixed)',
    '',
    '| strategy | makespan s (events / stepper) | wall ms (events / stepper) | speed-up | outcomes |',
    '|---|---|---|---|---|',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.strategy} | ${r.makespanS.events.toFixed(0)} / ${r.makespanS.stepper.toFixed(0)} | ${r.wallMs.events.toFixed(0)} / ${r.wallMs.stepper.toFixed(0)} | ${speedUp(r.wallMs.stepper / r.wallMs.events)}× | ${r.differences.length === 0 ? 'same' : `${r.differences.length} differences`} |`,
    );
  const differences = rows.flatMap((r) => r.differences.map((d) => `- ${r.strategy}: ${d}`));
  return [...lines, ...(differences.length > 0 ? ['', ...differences] : [])].join('\n');
}

/** Two significant digits for small ratios, whole numbers for large ones. */
function speedUp(ratio: number): string {
  return ratio < 10 ? ratio.toFixed(1) : ratio.toFixed(0);
}
