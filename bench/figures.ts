import type { PostMortem } from '../src/engine/report.js';

/**
 * The bench's figures and their two renderings (a markdown table, one JSON document). Pure: the
 * scenarios hand in post-mortems and timings, nothing here runs anything.
 */

export const SCENARIOS = ['drain-mixed', 'campaign-16', 'scale-1000', 'scale-10000'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** One strategy's figures in one scenario; null where a figure does not apply. */
export interface StrategyFigures {
  name: string;
  /** Start of the first drain to the end of the last, simulated seconds. */
  makespanS: number | null;
  /** Memory to move / source line rate (campaign: summed over hosts, plus maintenance), seconds. */
  lowerBoundS: number | null;
  /** The per-VM rate bound (simulate.ts rateBoundMs): line rate and each VM at its fastest rate, seconds. */
  rateBoundS: number | null;
  failed: number | null;
  aborted: number | null;
  /** Post-copy / pause approvals requested (the bench approves them all). */
  approvals: number | null;
  downtimeP50Ms: number | null;
  downtimeP95Ms: number | null;
  /** Bytes sent by every migration (failed and aborted ones too) / memory of the VMs moved. */
  bytesRatio: number | null;
  /** Completed migrations / distinct VMs moved. */
  migrationsPerVm: number | null;
  /** Planner wall time, ms. */
  planMs: number | null;
}

export interface ScenarioResult {
  name: ScenarioName;
  strategies: StrategyFigures[];
  /** Human-only lines printed under the table (what was measured, how). */
  notes: string[];
  /** Human-only extra columns per strategy, by strategy name (e.g. peak heap). */
  extra?: { columns: string[]; rows: Record<string, string[]> };
  /** How the planner's cost grows with the fleet, one row per size (scale-10000). */
  growth?: GrowthRow[];
}

/** One fleet size's planning cost: a cold drain and a cold whole-fleet campaign. */
export interface GrowthRow {
  hosts: number;
  vms: number;
  drainMs: number;
  drainCpuMs: number;
  drainPeakHeapMiB: number;
  campaignMs: number;
  campaignCpuMs: number;
  campaignPeakHeapMiB: number;
}

export const EMPTY_FIGURES: Omit<StrategyFigures, 'name'> = {
  makespanS: null,
  lowerBoundS: null,
  rateBoundS: null,
  failed: null,
  aborted: null,
  approvals: null,
  downtimeP50Ms: null,
  downtimeP95Ms: null,
  bytesRatio: null,
  migrationsPerVm: null,
  planMs: null,
};

/** Nearest-rank percentile (p in 0..100) of the values; null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`a percentile is between 0 and 100 (got ${p})`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Figures that come from what the engine recorded: failures, approvals, downtime, bytes, moves. */
export function migrationFigures(
  reports: readonly PostMortem[],
): Pick<
  StrategyFigures,
  'failed' | 'aborted' | 'approvals' | 'downtimeP50Ms' | 'downtimeP95Ms' | 'bytesRatio' | 'migrationsPerVm'
> {
  const migrations = reports.flatMap((r) => r.migrations);
  const completed = migrations.filter((m) => m.state === 'completed');
  const downtimes = completed.map((m) => m.downtimeMs ?? 0);
  const moved = completed.reduce((sum, m) => sum + m.memoryBytes, 0);
  const sent = migrations.reduce((sum, m) => sum + m.bytesSent, 0);
  const vms = new Set(completed.map((m) => m.instance)).size;
  return {
    failed: migrations.filter((m) => m.state === 'failed').length,
    aborted: migrations.filter((m) => m.state === 'aborted').length,
    approvals: reports.reduce((sum, r) => sum + r.approvals.length, 0),
    downtimeP50Ms: percentile(downtimes, 50),
    downtimeP95Ms: percentile(downtimes, 95),
    bytesRatio: moved > 0 ? sent / moved : null,
    migrationsPerVm: vms > 0 ? completed.length / vms : null,
  };
}

/** Rounds for display and JSON: a few significant digits are all a bench can claim. */
export function round(value: number | null, digits = 2): number | null {
  if (value === null || !Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The one JSON document of `--json`: exactly the documented keys, nulls where a figure does not apply. */
export function toJson(results: readonly ScenarioResult[]): {
  scenarios: { name: ScenarioName; strategies: StrategyFigures[]; growth?: GrowthRow[] }[];
} {
  return {
    scenarios: results.map((r) => ({
      name: r.name,
      ...(r.growth && {
        growth: r.growth.map((g) => ({
          hosts: g.hosts,
          vms: g.vms,
          drainMs: round(g.drainMs, 1)!,
          drainCpuMs: round(g.drainCpuMs, 1)!,
          drainPeakHeapMiB: round(g.drainPeakHeapMiB, 0)!,
          campaignMs: round(g.campaignMs, 0)!,
          campaignCpuMs: round(g.campaignCpuMs, 0)!,
          campaignPeakHeapMiB: round(g.campaignPeakHeapMiB, 0)!,
        })),
      }),
      strategies: r.strategies.map((s) => ({
        name: s.name,
        makespanS: round(s.makespanS, 1),
        lowerBoundS: round(s.lowerBoundS, 1),
        rateBoundS: round(s.rateBoundS, 1),
        failed: s.failed,
        aborted: s.aborted,
        approvals: s.approvals,
        downtimeP50Ms: round(s.downtimeP50Ms, 0),
        downtimeP95Ms: round(s.downtimeP95Ms, 0),
        bytesRatio: round(s.bytesRatio, 3),
        migrationsPerVm: round(s.migrationsPerVm, 3),
        planMs: round(s.planMs, 1),
      })),
    })),
  };
}

const cell = (value: number | null, digits = 0, suffix = '') =>
  value === null ? '–' : `${value.toFixed(digits)}${suffix}`;

/** One markdown table per scenario, columns that apply to it only, then its notes. */
export function formatScenario(result: ScenarioResult): string {
  const rows = result.strategies;
  const has = (key: keyof StrategyFigures) => rows.some((r) => r[key] !== null);
  const columns: { title: string; value: (s: StrategyFigures) => string }[] = [
    { title: 'strategy', value: (s) => s.name },
  ];
  if (has('makespanS')) {
    columns.push({ title: 'makespan s', value: (s) => cell(s.makespanS) });
    columns.push({
      title: '× lower bound',
      value: (s) => (s.makespanS !== null && s.lowerBoundS ? cell(s.makespanS / s.lowerBoundS, 2, '×') : '–'),
    });
    if (has('rateBoundS'))
      columns.push({
        title: '× rate bound',
        value: (s) => (s.makespanS !== null && s.rateBoundS ? cell(s.makespanS / s.rateBoundS, 2, '×') : '–'),
      });
  }
  if (has('failed'))
    columns.push({ title: 'failed / aborted', value: (s) => `${cell(s.failed)} / ${cell(s.aborted)}` });
  if (has('approvals')) columns.push({ title: 'approvals', value: (s) => cell(s.approvals) });
  if (has('downtimeP50Ms'))
    columns.push({
      title: 'downtime p50 / p95 ms',
      value: (s) => `${cell(s.downtimeP50Ms)} / ${cell(s.downtimeP95Ms)}`,
    });
  if (has('bytesRatio')) columns.push({ title: 'bytes / memory', value: (s) => cell(s.bytesRatio, 2) });
  if (has('migrationsPerVm'))
    columns.push({ title: 'migrations / VM', value: (s) => cell(s.migrationsPerVm, 3) });
  if (has('planMs')) columns.push({ title: 'plan ms', value: (s) => cell(s.planMs) });
  for (const [i, title] of (result.extra?.columns ?? []).entries())
    columns.push({ title, value: (s) => result.extra?.rows[s.name]?.[i] ?? '–' });

  const lowerBound = rows.find((r) => r.lowerBoundS !== null)?.lowerBoundS ?? null;
  // The rate bound depends on what the strategy may do (post-copy or not): one per value.
  const rateBounds = new Map<string, string[]>();
  for (const r of rows)
    if (r.rateBoundS !== null)
      rateBounds.set(cell(r.rateBoundS), [...(rateBounds.get(cell(r.rateBoundS)) ?? []), r.name]);
  const rateBound = [...rateBounds].map(([s, names]) =>
    rateBounds.size > 1 ? `${s} s (${names.join(', ')})` : `${s} s`,
  );
  const bounds = [
    ...(lowerBound !== null ? [`lower bound ${cell(lowerBound)} s`] : []),
    ...(rateBound.length > 0 ? [`rate bound ${rateBound.join(', ')}`] : []),
  ];
  const lines = [`### ${result.name}${bounds.length > 0 ? ` (${bounds.join(', ')})` : ''}`, ''];
  lines.push(`| ${columns.map((c) => c.title).join(' | ')} |`);
  lines.push(`|${columns.map(() => '---').join('|')}|`);
  for (const s of rows) lines.push(`| ${columns.map((c) => c.value(s)).join(' | ')} |`);
  if (result.growth) {
    lines.push(
      '',
      '| hosts | VMs | drain ms (CPU ms) | drain peak heap MiB | campaign ms (CPU ms) | campaign peak heap MiB |',
    );
    lines.push('|---|---|---|---|---|---|');
    for (const g of result.growth)
      lines.push(
        `| ${g.hosts} | ${g.vms} | ${cell(g.drainMs)} (${cell(g.drainCpuMs)}) | ${cell(g.drainPeakHeapMiB)} | ${cell(g.campaignMs)} (${cell(g.campaignCpuMs)}) | ${cell(g.campaignPeakHeapMiB)} |`,
      );
  }
  if (result.notes.length > 0) lines.push('', ...result.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}
