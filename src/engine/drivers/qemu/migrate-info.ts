import { z } from 'zod';
import type { MigrationStatus, ProgressSample } from '../../model.js';

/** QEMU's MigrationInfo (`query-migrate`), the fields ferry reads; unknown fields pass through. */
export const migrationInfoSchema = z.looseObject({
  status: z
    .enum([
      'none',
      'setup',
      'cancelling',
      'cancelled',
      'active',
      'postcopy-active',
      'postcopy-paused',
      'postcopy-recover-setup',
      'postcopy-recover',
      'completed',
      'failed',
      'colo',
      'pre-switchover',
      'device',
      'wait-unplug',
    ])
    .optional(),
  'total-time': z.number().optional(),
  'expected-downtime': z.number().optional(),
  downtime: z.number().optional(),
  'cpu-throttle-percentage': z.number().optional(),
  'error-desc': z.string().optional(),
  'socket-address': z
    .array(z.looseObject({ type: z.string(), host: z.string().optional(), port: z.string().optional() }))
    .optional(),
  ram: z
    .looseObject({
      total: z.number(),
      transferred: z.number(),
      remaining: z.number(),
      mbps: z.number().optional(),
      'dirty-pages-rate': z.number().optional(),
      'page-size': z.number().optional(),
      'dirty-sync-count': z.number().optional(),
    })
    .optional(),
});

export type MigrationInfo = z.infer<typeof migrationInfoSchema>;
export type QemuMigrationStatus = NonNullable<MigrationInfo['status']>;

/** QEMU statuses in which a migration is under way (a second `migrate` would be refused). */
export const RUNNING_QEMU_STATUSES: readonly QemuMigrationStatus[] = [
  'setup',
  'active',
  'cancelling',
  'postcopy-active',
  'postcopy-paused',
  'postcopy-recover-setup',
  'postcopy-recover',
  'pre-switchover',
  'device',
  'wait-unplug',
];

const STATUS: Record<QemuMigrationStatus, MigrationStatus> = {
  none: 'setup',
  setup: 'setup',
  active: 'active',
  // Still copying until QEMU confirms the cancel.
  cancelling: 'active',
  cancelled: 'cancelled',
  'postcopy-active': 'postcopy-active',
  'postcopy-paused': 'postcopy-active',
  'postcopy-recover-setup': 'postcopy-active',
  'postcopy-recover': 'postcopy-active',
  completed: 'completed',
  failed: 'failed',
  colo: 'active',
  'pre-switchover': 'device',
  device: 'device',
  'wait-unplug': 'device',
};

/** QEMU's `mbps` is megabits per second (10^6). */
const MBPS_TO_BYTES_PER_S = 1e6 / 8;

/** Maps one `query-migrate` reply onto the sample shape every driver reports. */
export function sampleFromMigrationInfo(
  info: MigrationInfo,
  at: number,
  options: { paused?: boolean } = {},
): ProgressSample {
  const ram = info.ram;
  const status = STATUS[info.status ?? 'none'];
  const sample: ProgressSample = {
    at,
    status,
    totalBytes: ram?.total ?? 0,
    transferredBytes: ram?.transferred ?? 0,
    remainingBytes: status === 'completed' ? 0 : (ram?.remaining ?? 0),
    // dirty-pages-rate stays 0 until QEMU's second or third dirty sync.
    dirtyBytesPerS: (ram?.['dirty-pages-rate'] ?? 0) * (ram?.['page-size'] ?? 4096),
    bandwidthBytesPerS: (ram?.mbps ?? 0) * MBPS_TO_BYTES_PER_S,
    iteration: ram?.['dirty-sync-count'] ?? 0,
  };
  if (info['expected-downtime'] !== undefined) sample.expectedDowntimeMs = info['expected-downtime'];
  if (info.downtime !== undefined) sample.downtimeMs = info.downtime;
  if (info['cpu-throttle-percentage'] !== undefined) sample.throttlePct = info['cpu-throttle-percentage'];
  if (options.paused) sample.paused = true;
  if (info['error-desc']) sample.error = info['error-desc'];
  else if (info.status === 'postcopy-paused')
    sample.error = 'post-copy paused: the migration link broke while the guest ran on the destination';
  else if (info.status === 'postcopy-recover-setup' || info.status === 'postcopy-recover')
    sample.error = 'post-copy recovering: a new migration channel to the destination is being set up';
  return sample;
}

/** The TCP port a `migrate-incoming tcp:HOST:0` listener got (from the destination's query-migrate). */
export function incomingPort(info: MigrationInfo): number | undefined {
  const inet = info['socket-address']?.find((a) => a.type === 'inet' && a.port !== undefined);
  return inet?.port === undefined ? undefined : Number(inet.port);
}
