import { z } from 'zod';
import { DriverReplyError } from '../../errors.js';
import type { MigrationStatus, ProgressSample } from '../../model.js';

/**
 * `virsh domjobinfo` prints one `Key: value [unit]` per line. Sizes come in B/KiB/MiB/GiB/TiB
 * with three decimals, rates per second, times in ms, the dirty rate in pages/s.
 */
export interface DomJobInfo {
  /** None, Unbounded (running), Bounded, Completed, Failed, Cancelled. */
  jobType: string;
  operation?: string;
  elapsedMs?: number;
  dataProcessedBytes?: number;
  dataRemainingBytes?: number;
  dataTotalBytes?: number;
  memoryProcessedBytes?: number;
  memoryRemainingBytes?: number;
  memoryTotalBytes?: number;
  memoryBandwidthBytesPerS?: number;
  dirtyPagesPerS?: number;
  pageSizeBytes?: number;
  iteration?: number;
  postcopyRequests?: number;
  expectedDowntimeMs?: number;
  downtimeMs?: number;
  throttlePct?: number;
  errorMessage?: string;
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

const number = z.coerce.number().refine(Number.isFinite, 'a finite number');

function bytes(value: string, key: string): number {
  const m = /^([\d.]+)\s*(B|KiB|MiB|GiB|TiB)(\/s)?$/.exec(value);
  const amount = m ? number.safeParse(m[1]) : undefined;
  // A figure too long to be finite is as malformed as no figure at all.
  if (!m || !amount?.success)
    throw new DriverReplyError(`virsh domjobinfo: "${key}" is not a size: ${value}`);
  return Math.round(amount.data * UNITS[m[2]!]!);
}

function plain(value: string, key: string): number {
  const parsed = number.safeParse(value.split(/\s+/)[0]);
  if (!parsed.success) throw new DriverReplyError(`virsh domjobinfo: "${key}" is not a number: ${value}`);
  return parsed.data;
}

/** Parses `virsh domjobinfo` output; unknown lines are ignored, malformed known ones refused. */
export function parseDomJobInfo(text: string): DomJobInfo {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z][A-Za-z ]*?):\s+(.*\S)\s*$/.exec(line);
    if (m) fields.set(m[1]!.toLowerCase(), m[2]!);
  }
  const jobType = fields.get('job type');
  if (!jobType) throw new DriverReplyError(`virsh domjobinfo printed no "Job type": ${text.slice(0, 120)}`);
  const info: DomJobInfo = { jobType };
  const size = (key: string) => (fields.has(key) ? bytes(fields.get(key)!, key) : undefined);
  const num = (key: string) => (fields.has(key) ? plain(fields.get(key)!, key) : undefined);
  info.operation = fields.get('operation');
  info.elapsedMs = num('time elapsed');
  info.dataProcessedBytes = size('data processed');
  info.dataRemainingBytes = size('data remaining');
  info.dataTotalBytes = size('data total');
  info.memoryProcessedBytes = size('memory processed');
  info.memoryRemainingBytes = size('memory remaining');
  info.memoryTotalBytes = size('memory total');
  info.memoryBandwidthBytesPerS = size('memory bandwidth');
  info.dirtyPagesPerS = num('dirty rate');
  info.pageSizeBytes = num('page size');
  info.iteration = num('iteration');
  info.postcopyRequests = num('postcopy requests');
  info.expectedDowntimeMs = num('expected downtime');
  info.downtimeMs = num('total downtime');
  info.throttlePct = num('auto converge throttle');
  info.errorMessage = fields.get('error message');
  for (const key of Object.keys(info) as (keyof DomJobInfo)[]) if (info[key] === undefined) delete info[key];
  return info;
}

const STATUS: Record<string, MigrationStatus> = {
  none: 'setup',
  unbounded: 'active',
  bounded: 'active',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** Maps a domjobinfo onto the sample every driver reports. */
export function sampleFromDomJobInfo(
  info: DomJobInfo,
  at: number,
  options: { postcopy?: boolean; paused?: boolean } = {},
): ProgressSample {
  let status = STATUS[info.jobType.toLowerCase()];
  if (!status) throw new DriverReplyError(`virsh domjobinfo: unknown job type "${info.jobType}"`);
  // libvirt reports the job before QEMU moves a page (while it connects to the destination and
  // prepares the incoming domain): no sizes yet, which is setup, not a transfer that sends nothing.
  const sized = [
    info.memoryTotalBytes,
    info.dataTotalBytes,
    info.memoryRemainingBytes,
    info.dataRemainingBytes,
  ];
  if (status === 'active' && sized.every((v) => v === undefined)) status = 'setup';
  if (status === 'active' && options.postcopy) status = 'postcopy-active';
  const sample: ProgressSample = {
    at,
    status,
    totalBytes: info.memoryTotalBytes ?? info.dataTotalBytes ?? 0,
    transferredBytes: info.memoryProcessedBytes ?? info.dataProcessedBytes ?? 0,
    remainingBytes: status === 'completed' ? 0 : (info.memoryRemainingBytes ?? info.dataRemainingBytes ?? 0),
    dirtyBytesPerS: (info.dirtyPagesPerS ?? 0) * (info.pageSizeBytes ?? 4096),
    bandwidthBytesPerS: info.memoryBandwidthBytesPerS ?? 0,
    iteration: info.iteration ?? 0,
  };
  if (info.expectedDowntimeMs !== undefined) sample.expectedDowntimeMs = info.expectedDowntimeMs;
  if (info.downtimeMs !== undefined) sample.downtimeMs = info.downtimeMs;
  if (info.throttlePct !== undefined) sample.throttlePct = info.throttlePct;
  if (options.paused) sample.paused = true;
  if (info.errorMessage) sample.error = info.errorMessage;
  return sample;
}
