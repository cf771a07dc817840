import type { Clock } from '../../clock.js';
import { ConfigError } from '../../errors.js';
import { type DriverConfig, defineDriver } from '../driver.js';
import { novaConfigSchema } from './config.js';
import { NOVA_LACKS, NovaDriver } from './driver.js';

const sections = { nova: novaConfigSchema.optional() };

/**
 * The nova driver from a validated config (needs the `nova:` section). A `maintenance.command`
 * is refused here, at startup: Nova runs no commands on compute hosts, and an evacuation asked to
 * run one would drain the host for hours and only then fail its maintenance step.
 */
export function createNovaDriver(config: DriverConfig<typeof sections>, clock: Clock): NovaDriver {
  const { nova } = config;
  if (!nova) throw new ConfigError('fleet.driver nova needs the "nova:" config section');
  if (config.maintenance.command !== undefined)
    throw new ConfigError(
      'maintenance.command cannot be used with fleet.driver nova: Nova runs no commands on compute ' +
        'hosts. Remove it; ferry then leaves a drained host disabled for your own tooling',
    );
  return new NovaDriver({ config: nova, clock });
}

/** The OpenStack Compute API (and Keystone for its token). */
export const driverModule = defineDriver({
  kind: 'nova',
  sections,
  lacks: NOVA_LACKS,
  create: createNovaDriver,
});
