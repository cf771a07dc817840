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
import { type GuestSpec, localQmp, startGuestVm } from '../test/support/qemu.js';

/**
 * Model fidelity: real QEMU migrations of the test guest (TCG, loopback, a bandwidth cap that
 * binds) beside what the convergence model predicts for the same memory, dirty rate, bandwidth
 * and downtime limit. The dirty rate fed to the model is the one the guest reports achieving
 * during the migration (TCG cannot promise the rate asked for on a busy machine).
 */

export interface FidelityCase {
  /** Memory the guest writes, MiB: the bytes the first pass must send. */
  mib: number;
  /** Dirty rate asked of the guest, MiB/s. */
  dirtyMiBps: number;
  /** max-bandwidth, MiB/s. */
  capMiBps: number;
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
}

export interface FidelityOptions {
  cases?: FidelityCase[];
  downtimeLimitMs?: number;
  /** A migration still running after this long counts as not converging and is cancelled. */
  timeoutMs?: number;
  log?: (line: string) => void;
  predict?: typeof predictPrecopy;
}

export const DEFAULT_CASES: FidelityCase[] = [
  { mib: 32, dirtyMiBps: 4, capMiBps: 32 },
  { mib: 32, dirtyMiBps: 16, capMiBps: 32 },
  { mib: 32, dirtyMiBps: 16, capMiBps: 64 },
  { mib: 64, dirtyMiBps: 4, capMiBps: 32 },
  { mib: 64, dirtyMiBps: 16, capMiBps: 64 },
  { mib: 64, dirtyMiBps: 32, capMiBps: 64 },
  { mib: 32, dirtyMiBps: 48, capMiBps: 32 },
];

/** Runs the grid one migration at a time and returns measured vs predicted rows. */
export async function runFidelity(options: FidelityOptions = {}): Promise<FidelityRow[]> {
  const cases = options.cases ?? DEFAULT_CASES;
  const log = options.log ?? ((line: string) => console.log(line));
  // The model takes the bandwidth a migration gets as an input. Loopback QEMU under TCG may not
  // reach a cap, so each cap's effective rate is measured once on a nearly idle guest, and the
  // other cases are predicted at that rate: calibrated on one run, checked on the others. The
  // final copy runs with QEMU's cap lifted: its rate is loopback's own, measured uncapped.
  const uncapped = await calibrate(UNCAPPED_MIBPS, options, log);
  const effective = new Map<number, number>();
  for (const capMiBps of new Set(cases.map((c) => c.capMiBps)))
    effective.set(capMiBps, await calibrate(capMiBps, options, log));
  const rows: FidelityRow[] = [];
  for (const c of cases) {
    const row = await runCase(c, options, {
      bandwidthBytesPerS: effective.get(c.capMiBps)!,
      switchoverBytesPerS: uncapped,
    });
    rows.push(row);
    log(formatRow(row));
  }
  return rows;
}

/** QEMU's own "no limit" for max-bandwidth is far above loopback under TCG. */
const UNCAPPED_MIBPS = 1 << 20;

/** The rate a cap gives on this machine: one nearly idle guest migrated under it. */
async function calibrate(
  capMiBps: number,
  options: FidelityOptions,
  log: (line: string) => void,
): Promise<number> {
  const probe = await runCase({ mib: 32, dirtyMiBps: 0.25, capMiBps }, options, {
    bandwidthBytesPerS: capMiBps * MiB,
  });
  const liveMs = probe.durationMs - probe.downtimeMs;
  const rate = Math.min(capMiBps * MiB, liveMs > 0 ? (probe.bytesSent / liveMs) * 1000 : capMiBps * MiB);
  log(`calibration: cap ${capMiBps} MiB/s gives ${(rate / MiB).toFixed(1)} MiB/s on this machine`);
  return rate;
}

async function runCase(
  c: FidelityCase,
  options: FidelityOptions,
  link: Pick<PrecopyInput, 'bandwidthBytesPerS' | 'switchoverBytesPerS'>,
): Promise<FidelityRow> {
  const downtimeLimitMs = options.downtimeLimitMs ?? 100;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fidelity-'));
  const spec: GuestSpec = { mib: c.mib, rateKib: c.dirtyMiBps * 1024 };
  const source = await startGuestVm({
    qmpSocket: join(dir, 's.qmp'),
    serialPath: join(dir, 's.serial'),
    spec,
  });
  const destination = await startGuestVm({
    qmpSocket: join(dir, 'd.qmp'),
    serialPath: join(dir, 'd.serial'),
    spec,
    incoming: true,
  });
  const src = await localQmp(source.qmpSocket);
  const dst = await localQmp(destination.qmpSocket);
  try {
    await waitUntil(() => readGuestLog(source.serialPath).progress.length >= 2, 20_000);
    await dst.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' });
    const port = incomingPort(await dst.query('query-migrate', migrationInfoSchema));
    await src.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
    await src.execute('migrate-set-parameters', {
      'max-bandwidth': c.capMiBps * MiB,
      'downtime-limit': downtimeLimitMs,
    });
    const progressBefore = readGuestLog(source.serialPath).progress.length;
    await src.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    let info: MigrationInfo;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      info = await src.query('query-migrate', migrationInfoSchema);
      if (info.status === 'completed' || info.status === 'failed') break;
      if (Date.now() > deadline) {
        await src.execute('migrate_cancel');
        break;
      }
    }
    const during = readGuestLog(source.serialPath).progress.slice(progressBefore);
    const rates = during.map((p) => p.rateKib * 1024);
    const measured = rates.length > 0 ? rates.reduce((a, b) => a + b, 0) / rates.length : c.dirtyMiBps * MiB;
    const completed = info.status === 'completed';
    let guestClean = readGuestLog(source.serialPath).corrupt.length === 0;
    if (completed) {
      await waitUntil(() => readGuestLog(destination.serialPath).progress.length >= 2, 10_000);
      const after = readGuestLog(destination.serialPath);
      guestClean &&= after.corrupt.length === 0 && after.progress.every((p) => p.errors === 0);
    }
    const prediction = (options.predict ?? predictPrecopy)({
      memoryBytes: c.mib * MiB,
      dirtyBytesPerS: measured,
      ...link,
      downtimeLimitMs,
    });
    return {
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
  } finally {
    src.close();
    dst.close();
    await source.stop();
    await destination.stop();
    rmSync(dir, { recursive: true, force: true });
  }
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

export const TABLE_HEADER = [
  '| guest MiB | dirty MiB/s (asked / got) | cap / effective MiB/s | outcome | duration ms (real / model / err) | MiB sent (real / model / err) | downtime ms (real / model) | passes (real / model) | guest |',
  '|---|---|---|---|---|---|---|---|---|',
];

/** One markdown table row: measured, predicted and the prediction's error (+ = model says more). */
export function formatRow(r: FidelityRow): string {
  const p = r.prediction;
  const outcome = r.completed
    ? p.converges
      ? 'converged (model: yes)'
      : 'converged (model: no)'
    : p.converges
      ? 'did not converge (model: yes)'
      : 'did not converge (model: no)';
  const both = r.completed && p.converges;
  return [
    '',
    r.mib,
    `${r.dirtyMiBps} / ${mib(r.measuredDirtyBytesPerS)}`,
    `${r.capMiBps} / ${mib(p.bandwidthBytesPerS)}`,
    outcome,
    both ? `${r.durationMs} / ${p.durationMs.toFixed(0)} / ${pct(r.durationMs, p.durationMs)}` : '-',
    both ? `${mib(r.bytesSent)} / ${mib(p.bytesSent)} / ${pct(r.bytesSent, p.bytesSent)}` : '-',
    both ? `${r.downtimeMs} / ${p.downtimeMs.toFixed(0)}` : '-',
    both ? `${r.passes} / ${p.passes}` : '-',
    r.guestClean ? 'intact' : 'CORRUPT',
    '',
  ]
    .join(' | ')
    .trim();
}

/** The whole table (header + rows), as the README quotes it. */
export function formatTable(rows: FidelityRow[]): string {
  return [...TABLE_HEADER, ...rows.map(formatRow)].join('\n');
}
