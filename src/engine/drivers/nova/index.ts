import type { Clock } from '../../clock.js';
import type { FerryConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { NovaDriver } from './driver.js';

/** The nova driver from a validated config (needs the `nova:` section). */
export function createNovaDriver(config: FerryConfig, clock: Clock): NovaDriver {
  const { nova } = config;
  if (!nova) throw new ConfigError('fleet.driver nova needs the "nova:" config section');
  return new NovaDriver({ config: nova, clock });
}
