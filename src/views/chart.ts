import type { Evacuation, FerryEvent, Migration } from '../engine/model.js';
import { GBPS, GiB } from '../engine/model.js';

/**
 * The post-mortem's chart as a Vega-Lite spec (pure; src/commands/chart.ts draws it): each
 * migration's memory left to copy over time with its switchover marked, and the throughput of
 * each host link (source → destination), from the traces the engine keeps per migration.
 */

/** What a switchover mark says: the risky ones by name, the ordinary end of a pre-copy, or its failure. */
export type SwitchoverMark = 'post-copy' | 'pause' | 'stop-and-copy' | 'aborted' | 'failed';

export interface ChartData {
  title: string;
  /** The time axis's unit: seconds for a short evacuation, minutes for a long one. */
  unit: 's' | 'min';
  remaining: { t: number; gib: number; vm: string }[];
  switchovers: { t: number; gib: number; vm: string; kind: SwitchoverMark }[];
  links: { t: number; gbps: number; link: string }[];
}

const MARKS: readonly SwitchoverMark[] = ['post-copy', 'pause', 'stop-and-copy', 'aborted', 'failed'];
const SHAPES = ['triangle-up', 'square', 'circle', 'cross', 'diamond'];

/** The points of every migration that has a trace; undefined when none has (nothing to draw). */
export function chartData(evacuation: Evacuation, events: readonly FerryEvent[]): ChartData | undefined {
  const traced = evacuation.migrations.filter((m) => (m.trace?.points.length ?? 0) > 0);
  if (traced.length === 0) return undefined;
  const start = Math.min(evacuation.startedAt ?? Number.POSITIVE_INFINITY, ...traced.map(firstAt));
  const end = Math.max(...traced.map((m) => m.endedAt ?? m.trace!.points.at(-1)![0]));
  const unit = end - start > 3 * 60_000 ? 'min' : 's';
  const t = (at: number) => round((at - start) / (unit === 'min' ? 60_000 : 1000), 3);
  const gib = (bytes: number) => round(bytes / GiB, 3);

  const remaining = traced.flatMap((m) =>
    m.trace!.points.map(([at, left]) => ({ t: t(at), gib: gib(left), vm: m.instance })),
  );
  const switchovers = traced.flatMap((m) =>
    marks(m, events).map((s) => ({ ...s, t: t(s.at), gib: gib(s.left) })),
  );
  return {
    title: `Evacuation of ${evacuation.request.source} (${evacuation.request.id}): ${evacuation.state}`,
    unit,
    remaining,
    switchovers: switchovers.map(({ at: _a, left: _l, ...rest }) => rest),
    links: linkThroughput(traced)
      .map((p) => ({ ...p, t: t(p.at) }))
      .map(({ at: _a, ...rest }) => rest),
  };
}

function firstAt(m: Migration): number {
  return m.trace!.points[0]![0];
}

/** Remaining bytes at `at`: the last trace point at or before it. */
function leftAt(m: Migration, at: number): number {
  let left = m.trace!.points[0]![1];
  for (const [when, bytes] of m.trace!.points) {
    if (when > at) break;
    left = bytes;
  }
  return left;
}

/** Where a migration switched over: a risky switchover's moment, else its end. */
function marks(m: Migration, events: readonly FerryEvent[]) {
  const found: { at: number; left: number; vm: string; kind: SwitchoverMark }[] = [];
  for (const e of events)
    if (e.type === 'migration.switchover' && e.migrationId === m.id)
      found.push({
        at: e.at,
        left: leftAt(m, e.at),
        vm: m.instance,
        kind: e.kind === 'postcopy' ? 'post-copy' : 'pause',
      });
  const endedAt = m.endedAt ?? m.trace!.points.at(-1)![0];
  if (m.state === 'completed' && found.length === 0)
    found.push({ at: endedAt, left: 0, vm: m.instance, kind: 'stop-and-copy' });
  if (m.state === 'aborted' || m.state === 'failed')
    found.push({ at: endedAt, left: leftAt(m, endedAt), vm: m.instance, kind: m.state });
  return found;
}

/**
 * Each link's throughput: the migrations on it summed per time bucket (the coarsest trace step,
 * so every migration has a point in each bucket it ran in), zero in buckets where none ran.
 */
function linkThroughput(migrations: readonly Migration[]): { at: number; gbps: number; link: string }[] {
  const step = Math.max(...migrations.map((m) => m.trace!.stepMs));
  const byLink = new Map<string, Map<number, number>>();
  for (const m of migrations) {
    const link = `${m.from} → ${m.to}`;
    const buckets = byLink.get(link) ?? new Map<number, number>();
    byLink.set(link, buckets);
    const own = new Map<number, number[]>();
    for (const [at, , bandwidth] of m.trace!.points) {
      const bucket = Math.floor(at / step) * step;
      own.set(bucket, [...(own.get(bucket) ?? []), bandwidth]);
    }
    for (const [bucket, rates] of own)
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + rates.reduce((a, b) => a + b, 0) / rates.length);
  }
  const points: { at: number; gbps: number; link: string }[] = [];
  for (const [link, buckets] of [...byLink].sort(([a], [b]) => a.localeCompare(b))) {
    const times = [...buckets.keys()].sort((a, b) => a - b);
    for (let at = times[0]!; at <= times.at(-1)!; at += step)
      points.push({ at, gbps: round((buckets.get(at) ?? 0) / GBPS, 3), link });
  }
  return points;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const FONT = 'DejaVu Sans';
const WIDTH = 960;

/** The Vega-Lite spec of the chart: two panels sharing the time axis, fonts named for the renderer. */
export function chartSpec(data: ChartData): Record<string, unknown> {
  const x = {
    field: 't',
    type: 'quantitative',
    title: data.unit === 'min' ? 'minutes since the start' : 'seconds since the start',
  };
  const vms = [...new Set(data.remaining.map((p) => p.vm))];
  const legend = { columns: vms.length > 12 ? 2 : 1, symbolLimit: 0, labelLimit: 220 };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: data.title, anchor: 'start', fontSize: 20, offset: 16 },
    background: 'white',
    padding: 16,
    config: {
      font: FONT,
      view: { stroke: '#ccc' },
      axis: { labelFontSize: 14, titleFontSize: 15, titlePadding: 10, gridColor: '#e6e6e6' },
      legend: { labelFontSize: 14, titleFontSize: 15, rowPadding: 4 },
      title: { fontSize: 17, anchor: 'start' },
    },
    spacing: 36,
    resolve: { scale: { color: 'independent', shape: 'independent' }, legend: { color: 'independent' } },
    vconcat: [
      {
        title: 'Memory left to copy, per VM (marks: switchover)',
        width: WIDTH,
        height: 360,
        layer: [
          {
            data: { values: data.remaining },
            mark: { type: 'line', strokeWidth: 2.5, interpolate: 'linear' },
            encoding: {
              x,
              y: { field: 'gib', type: 'quantitative', title: 'GiB left to copy' },
              color: {
                field: 'vm',
                type: 'nominal',
                title: 'VM',
                legend,
                scale: { scheme: vms.length > 10 ? 'tableau20' : 'tableau10' },
              },
            },
          },
          {
            data: { values: data.switchovers },
            mark: { type: 'point', filled: true, size: 220, stroke: 'black', strokeWidth: 1 },
            encoding: {
              x,
              y: { field: 'gib', type: 'quantitative' },
              color: { field: 'vm', type: 'nominal' },
              shape: {
                field: 'kind',
                type: 'nominal',
                title: 'switchover',
                scale: { domain: [...MARKS], range: SHAPES },
              },
            },
          },
        ],
      },
      {
        title: 'Throughput per host link (stacked: the top is all the source sends)',
        width: WIDTH,
        height: 240,
        data: { values: data.links },
        mark: { type: 'area', interpolate: 'step-after', opacity: 0.85, line: { strokeWidth: 1 } },
        encoding: {
          x,
          y: { field: 'gbps', type: 'quantitative', title: 'Gb/s', stack: 'zero' },
          color: { field: 'link', type: 'nominal', title: 'link', legend: { labelLimit: 260 } },
        },
      },
    ],
  };
}
