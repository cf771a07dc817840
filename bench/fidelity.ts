import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  incomingPort,
  type MigrationInfo,
  migrationInfoSchema,
} from '../src/engine/drivers/qemu/migrate-info.js';
import { MiB, type Prediction } from '../src/engine/model.js';
import { type PrecopyInput, predictPrecopy } from '../src/engine/planning/convergence.js';
import { readGuestLog } from '../test/support/guest.js';
import { attachTopology, startTopology, type TopologyHost } from '../test/support/netns/topology.js';
import { type GuestSpec, localQmp, startGuestVm } from '../test/support/qemu.js';

/**
 * Model fidelity: real QEMU migrations of the test guest (TCG) between two hosts of the
 * namespace topology, across a real veth and bridge, beside what the convergence model predicts
 * for the same memory, dirty rate, bandwidth and downtime limit. Three kinds of case:
 * - cap: QEMU's own max-bandwidth binds on an unshaped link (the final copy runs uncapped);
 * - link: the source host's link is shaped (tc tbf) and QEMU runs uncapped: the network binds;
 * - outage: a link-bound case whose link drops everything (nftables) for a while mid-migration.
 * The dirty rate fed to the model is the one the guest reports achieving during the migration
 * (TCG cannot promise the rate asked for on a busy machine); each cap's or link's rate, and the
 * unshaped link's own, are measured once on a nearly idle guest: calibrated on one run, checked
 * on the others.
 */

export type FidelityKind = 'cap' | 'link' | 'outage';

export interface FidelityCase {
  kind: FidelityKind;
  /** Memory the guest writes, MiB: the bytes the first pass must send. */
  mib: number;
  /** Dirty rate asked of the guest, MiB/s. */
  dirtyMiBps: number;
  /** QEMU's max-bandwidth (cap) or the link's tbf rate (link, outage), MiB/s. */
  rateMiBps: number;
  /** Outage: the link drops everything for this long... */
  outageS?: number;
  /** ...starting this long after the migration started. */
  outageAfterS?: number;
  /**
   * Multifd channels (cap-bound only): QEMU's `multifd` capability and `multifd-channels` on both
   * sides, `max-bandwidth` (`rateMiBps`) then caps all channels together. The model predicts a
   * migration of N channels at min(N × channel cap, link): here the cap, as for one stream.
   */
  channels?: number;
}

export interface FidelityRow extends FidelityCase {
  /** Dirty rate the guest achieved during the migration, bytes/s. */
  measuredDirtyBytesPerS: number;
  completed: boolean;
  durationMs: number;
  bytesSent: number;
  downtimeMs: number;
  passes: number;
  prediction: Prediction;
  guestClean: boolean;
  goals: Goals;
}

/** Each goal met, missed, or not applicable (`undefined`) to the row. */
export interface Goals {
  verdict: boolean;
  duration?: boolean;
  bytes?: boolean;
  downtime?: boolean;
}

export interface FidelityOptions {
  cases?: FidelityCase[];
  downtimeLimitMs?: number;
  /** A migration still running after this long counts as not converging and is cancelled. */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export const DEFAULT_CASES: FidelityCase[] = [
  { kind: 'cap', mib: 32, dirtyMiBps: 4, rateMiBps: 32 },
  { kind: 'cap', mib: 64, dirtyMiBps: 16, rateMiBps: 64 },
  { kind: 'cap', mib: 64, dirtyMiBps: 32, rateMiBps: 64 },
  { kind: 'cap', mib: 32, dirtyMiBps: 48, rateMiBps: 32 },
  { kind: 'link', mib: 32, dirtyMiBps: 4, rateMiBps: 24 },
  { kind: 'link', mib: 64, dirtyMiBps: 8, rateMiBps: 24 },
  { kind: 'link', mib: 64, dirtyMiBps: 16, rateMiBps: 48 },
  { kind: 'link', mib: 32, dirtyMiBps: 40, rateMiBps: 24 },
  { kind: 'outage', mib: 64, dirtyMiBps: 4, rateMiBps: 24, outageS: 5, outageAfterS: 1 },
  // Four channels of 16 MiB/s: two TCG cores cannot show a speed-up (each channel's thread
  // competes with the guest's vCPU and QEMU's main thread), so the row shows multifd works and
  // meets what the model predicts at the same total cap.
  { kind: 'cap', mib: 64, dirtyMiBps: 16, rateMiBps: 64, channels: 4 },
];

/** Goals every row is held to (a missed goal is a row marked missed, not a failure). */
export const GOALS = {
  durationWithin: 0.1,
  bytesWithin: 0.05,
  /** Downtime agrees when |model - real| is at most this, or model/real is within the ratio. */
  downtimeAbsMs: 20,
  downtimeRatio: [0.5, 2] as const,
} as const;

/** QEMU's own "no limit" for max-bandwidth is far above what a veth carries under TCG. */
const UNCAPPED_MIBPS = 1 << 20;

const HOSTS = ['hv1', 'hv2'] as const;

/** Runs the cases one migration at a time and returns measured vs predicted rows. */
export async function runFidelity(options: FidelityOptions = {}): Promise<FidelityRow[]> {
  const cases = options.cases ?? DEFAULT_CASES;
  const log = options.log ?? ((line: string) => console.log(line));
  const attached = attachTopology();
  const topology = attached ?? (await startTopology({ hosts: HOSTS }));
  try {
    const [source, destination] = [topology.host(HOSTS[0]), topology.host(HOSTS[1])];
    const lab = { source, destination, options, log };
    await source.shape(undefined);
    // The final copy runs with the guest stopped (its vCPU no longer competes with the migration
    // thread) and QEMU's cap lifted: measured on a stopped guest, uncapped.
    const unshaped = await calibrate(lab, { kind: 'cap', rateMiBps: UNCAPPED_MIBPS }, { stopped: true });
    const rates = new Map<string, number>();
    for (const c of cases) {
      const key = `${c.kind === 'cap' ? 'cap' : 'link'}:${c.rateMiBps}`;
      if (!rates.has(key)) rates.set(key, await calibrate(lab, c));
    }
    const rows: FidelityRow[] = [];
    for (const c of cases) {
      const rate = rates.get(`${c.kind === 'cap' ? 'cap' : 'link'}:${c.rateMiBps}`)!;
      // Under its own cap QEMU copies the rest at the unshaped link's rate; on a shaped link the
      // link's rate is all there is.
      const link = { bandwidthBytesPerS: rate, switchoverBytesPerS: c.kind === 'cap' ? unshaped : rate };
      const row = await runCase(lab, c, link);
      rows.push(row);
      log(formatRow(row));
    }
    return rows;
  } finally {
    await topology
      .host(HOSTS[0])
      .shape(undefined)
      .catch(() => undefined);
    await topology
      .host(HOSTS[0])
      .outage(false)
      .catch(() => undefined);
    if (!attached) await topology.stop();
  }
}

interface Lab {
  source: TopologyHost;
  destination: TopologyHost;
  options: FidelityOptions;
  log: (line: string) => void;
}

/** The rate a cap or a shaped link gives here: one nearly idle (or stopped) guest migrated under it. */
async function calibrate(
  lab: Lab,
  c: Pick<FidelityCase, 'kind' | 'rateMiBps'>,
  how: { stopped?: boolean } = {},
): Promise<number> {
  const nominal = c.rateMiBps * MiB;
  const probe = await runCase(
    lab,
    { kind: c.kind === 'cap' ? 'cap' : 'link', mib: 32, dirtyMiBps: 0.25, rateMiBps: c.rateMiBps },
    { bandwidthBytesPerS: nominal },
    how,
  );
  const liveMs = how.stopped ? probe.durationMs : probe.durationMs - probe.downtimeMs;
  const rate = Math.min(nominal, liveMs > 0 ? (probe.bytesSent / liveMs) * 1000 : nominal);
  const what = c.rateMiBps === UNCAPPED_MIBPS ? 'the unshaped link' : `${c.kind} ${c.rateMiBps} MiB/s`;
  lab.log(
    `calibration: ${what}${how.stopped ? ' (guest stopped)' : ''} gives ${(rate / MiB).toFixed(1)} MiB/s here`,
  );
  return rate;
}

async function runCase(
  lab: Lab,
  c: FidelityCase,
  link: Pick<PrecopyInput, 'bandwidthBytesPerS' | 'switchoverBytesPerS'>,
  how: { stopped?: boolean } = {},
): Promise<FidelityRow> {
  const { source: from, destination: to, options } = lab;
  const downtimeLimitMs = options.downtimeLimitMs ?? 100;
  await from.shape(c.kind === 'cap' ? undefined : c.rateMiBps * MiB);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fidelity-'));
  const spec: GuestSpec = { mib: c.mib, rateKib: c.dirtyMiBps * 1024 };
  const sourceVm = await startGuestVm({
    qmpSocket: join(dir, 's.qmp'),
    serialPath: join(dir, 's.serial'),
    spec,
    netnsOf: from.holderPid,
  });
  const destinationVm = await startGuestVm({
    qmpSocket: join(dir, 'd.qmp'),
    serialPath: join(dir, 'd.serial'),
    spec,
    incoming: true,
    netnsOf: to.holderPid,
  });
  const src = await localQmp(sourceVm.qmpSocket);
  const dst = await localQmp(destinationVm.qmpSocket);
  let outage: { from: number; to?: number } | undefined;
  try {
    await waitUntil(() => readGuestLog(sourceVm.serialPath).progress.length >= 2, 20_000);
    const multifd = (c.channels ?? 1) > 1 ? [{ capability: 'multifd', state: true }] : [];
    if (multifd.length > 0)
      for (const side of [dst, src]) {
        await side.execute('migrate-set-capabilities', { capabilities: multifd });
        await side.execute('migrate-set-parameters', { 'multifd-channels': c.channels });
      }
    await dst.execute('migrate-incoming', { uri: `tcp:${to.address}:0` });
    const port = incomingPort(await dst.query('query-migrate', migrationInfoSchema));
    await src.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
    await src.execute('migrate-set-parameters', {
      'max-bandwidth': (c.kind === 'cap' ? c.rateMiBps : UNCAPPED_MIBPS) * MiB,
      'downtime-limit': downtimeLimitMs,
    });
    if (how.stopped) await src.execute('stop');
    const progressBefore = readGuestLog(sourceVm.serialPath).progress.length;
    const started = Date.now();
    await src.execute('migrate', { uri: `tcp:${to.address}:${port}` });
    const deadline = started + (options.timeoutMs ?? 15_000) + (c.outageS ?? 0) * 2000;
    let info: MigrationInfo;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const elapsedS = (Date.now() - started) / 1000;
      if (c.kind === 'outage' && !outage && elapsedS >= c.outageAfterS!) {
        await from.outage(true);
        outage = { from: Date.now() };
      }
      if (outage && outage.to === undefined && Date.now() - outage.from >= c.outageS! * 1000) {
        await from.outage(false);
        outage.to = Date.now();
      }
      info = await src.query('query-migrate', migrationInfoSchema);
      if (info.status === 'completed' || info.status === 'failed') break;
      if (Date.now() > deadline) {
        await src.execute('migrate_cancel');
        break;
      }
    }
    if (outage && outage.to === undefined) {
      await from.outage(false);
      outage.to = Date.now();
    }
    const during = readGuestLog(sourceVm.serialPath).progress.slice(progressBefore);
    const rates = during.map((p) => p.rateKib * 1024);
    const measured = rates.length > 0 ? rates.reduce((a, b) => a + b, 0) / rates.length : c.dirtyMiBps * MiB;
    const completed = info.status === 'completed';
    let guestClean = readGuestLog(sourceVm.serialPath).corrupt.length === 0;
    if (completed) {
      // A guest migrated stopped stays stopped on arrival: resume it to check its pages.
      if (how.stopped) await dst.execute('cont');
      await waitUntil(() => readGuestLog(destinationVm.serialPath).progress.length >= 2, 20_000);
      const after = readGuestLog(destinationVm.serialPath);
      guestClean &&= after.corrupt.length === 0 && after.progress.every((p) => p.errors === 0);
    }
    const input = { memoryBytes: c.mib * MiB, dirtyBytesPerS: measured, ...link, downtimeLimitMs };
    const observedOutageMs = outage ? outage.to! - outage.from : 0;
    const prediction = withOutage(predictPrecopy(input), input, observedOutageMs);
    const row = {
      ...c,
      measuredDirtyBytesPerS: measured,
      completed,
      durationMs: info['total-time'] ?? 0,
      bytesSent: info.ram?.transferred ?? 0,
      downtimeMs: info.downtime ?? 0,
      passes: info.ram?.['dirty-sync-count'] ?? 0,
      prediction,
      guestClean,
    };
    return { ...row, goals: goalsOf(row, observedOutageMs) };
  } finally {
    src.close();
    dst.close();
    await sourceVm.stop();
    await destinationVm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The model fed the outage it observed: the link carried nothing for `outageMs` while the guest
 * kept dirtying, so the migration takes that much longer and the pass it stalled carries what
 * the guest dirtied meanwhile (never more than its memory). TCP's retransmission backoff after the
 * link returns is not the model's to know: the row's duration goal allows for it.
 */
export function withOutage(p: Prediction, input: PrecopyInput, outageMs: number): Prediction {
  if (outageMs <= 0 || !p.converges) return p;
  const extra = Math.min(input.memoryBytes, (input.dirtyBytesPerS * outageMs) / 1000);
  return {
    ...p,
    bytesSent: p.bytesSent + extra,
    durationMs: p.durationMs + outageMs + (extra / input.bandwidthBytesPerS) * 1000,
  };
}

const within = (real: number, model: number, fraction: number) =>
  real > 0 && Math.abs(model - real) / real <= fraction;

/**
 * The goals of a row. An outage row is held to what the model can know: its duration to
 * [model, model + outage] (after an outage of T, TCP's exponential backoff may wait up to about T
 * more before its next retransmission), its bytes to [model, model + what the guest dirties in
 * another T] (it keeps dirtying through the backoff), and not to a downtime: once the link is
 * back, the socket buffers drain in a burst that QEMU measures as bandwidth, so its threshold, and
 * with it the point of switchover, is not the link's.
 */
export function goalsOf(r: Omit<FidelityRow, 'goals'>, outageMs: number): Goals {
  const p = r.prediction;
  const verdict = r.completed === p.converges;
  if (!(r.completed && p.converges)) return { verdict };
  if (r.kind === 'outage') {
    const moreDirt = (r.measuredDirtyBytesPerS * outageMs) / 1000;
    return {
      verdict,
      duration:
        r.durationMs >= p.durationMs * (1 - GOALS.durationWithin) && r.durationMs <= p.durationMs + outageMs,
      bytes: r.bytesSent >= p.bytesSent * (1 - GOALS.bytesWithin) && r.bytesSent <= p.bytesSent + moreDirt,
    };
  }
  const ratio = r.downtimeMs > 0 ? p.downtimeMs / r.downtimeMs : Number.POSITIVE_INFINITY;
  const downtime =
    Math.abs(p.downtimeMs - r.downtimeMs) <= GOALS.downtimeAbsMs ||
    (ratio >= GOALS.downtimeRatio[0] && ratio <= GOALS.downtimeRatio[1]);
  return {
    verdict,
    duration: within(r.durationMs, p.durationMs, GOALS.durationWithin),
    bytes: within(r.bytesSent, p.bytesSent, GOALS.bytesWithin),
    downtime,
  };
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the guest');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pct = (measured: number, predicted: number) =>
  measured > 0 ? `${(((predicted - measured) / measured) * 100).toFixed(0)}%` : 'n/a';
const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const mark = (goal: boolean | undefined) => (goal === undefined ? '' : goal ? ' ✓' : ' ✗ missed');

export const TABLE_HEADER = [
  '| case | guest MiB | dirty MiB/s (asked / got) | rate MiB/s (set / measured) | outcome | duration ms (real / model / err) | MiB sent (real / model / err) | downtime ms (real / model) | passes (real / model) | guest |',
  '|---|---|---|---|---|---|---|---|---|---|',
];

/** One markdown table row: measured, predicted, the error (+ = model says more) and each goal. */
export function formatRow(r: FidelityRow): string {
  const p = r.prediction;
  const g = r.goals;
  const outcome = `${r.completed ? 'converged' : 'did not converge'} (model: ${p.converges ? 'yes' : 'no'})${mark(g.verdict)}`;
  const both = r.completed && p.converges;
  const kind =
    r.kind === 'outage'
      ? `outage ${r.outageS} s`
      : `${r.kind === 'cap' ? 'cap-bound' : 'link-bound'}${(r.channels ?? 1) > 1 ? `, multifd ×${r.channels}` : ''}`;
  return [
    '',
    kind,
    r.mib,
    `${r.dirtyMiBps} / ${mib(r.measuredDirtyBytesPerS)}`,
    `${r.rateMiBps} / ${mib(p.bandwidthBytesPerS)}`,
    outcome,
    both
      ? `${r.durationMs} / ${p.durationMs.toFixed(0)} / ${pct(r.durationMs, p.durationMs)}${mark(g.duration)}`
      : '-',
    both
      ? `${mib(r.bytesSent)} / ${mib(p.bytesSent)} / ${pct(r.bytesSent, p.bytesSent)}${mark(g.bytes)}`
      : '-',
    both ? `${r.downtimeMs} / ${p.downtimeMs.toFixed(0)}${mark(g.downtime)}` : '-',
    both ? `${r.passes} / ${p.passes}` : '-',
    r.guestClean ? 'intact' : 'CORRUPT',
    '',
  ]
    .join(' | ')
    .trim();
}

/** The whole table (header + rows) and the goals, as the README quotes them. */
export function formatTable(rows: FidelityRow[]): string {
  const missed = rows.filter((r) => Object.values(r.goals).some((g) => g === false)).length;
  return [
    ...TABLE_HEADER,
    ...rows.map(formatRow),
    '',
    `Goals: duration within ${GOALS.durationWithin * 100} %, bytes within ${GOALS.bytesWithin * 100} %, downtime within ` +
      `${GOALS.downtimeAbsMs} ms or a model/real ratio in [${GOALS.downtimeRatio.join(', ')}], the converge verdict right. ` +
      'Outage rows (the model fed the outage it saw): duration between the model and the model plus the outage again ' +
      "(TCP's backoff), bytes between the model and that plus what the guest dirties in another outage, no downtime goal " +
      `(QEMU measures the burst after the outage as bandwidth). ${missed} of ${rows.length} rows missed a goal.`,
  ].join('\n');
}
