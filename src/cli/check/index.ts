import { slackConfigSchema } from '../../commands/config.js';
import { systemClock } from '../../engine/clock.js';
import type { FerryConfig } from '../../engine/compose.js';
import { fleetFromConfig, parseSection } from '../../engine/config.js';
import { libvirtConfigSchema } from '../../engine/drivers/libvirt/config.js';
import { migrationAddresses, withPolicyDefaults } from '../../engine/drivers/libvirt/defaults.js';
import { LibvirtDriver } from '../../engine/drivers/libvirt/driver.js';
import { redisConfigSchema } from '../../engine/store/redis/index.js';
import { checkLibvirt } from './libvirt.js';
import { checkNova } from './nova.js';
import { checkQemu } from './qemu.js';
import { checkRedis } from './redis.js';
import { allPassed, type CheckResult } from './result.js';
import { checkSlack } from './slack.js';
import { checkSsh } from './ssh.js';
import { checkJson, checkTable } from './table.js';

export { allPassed, type CheckResult } from './result.js';

/**
 * `ferry check --config FILE`: tries, reading only, everything a drain with this config will
 * need (Redis, the driver's hosts or cloud, the Slack app) and reports a verdict per check.
 * Redis is the one the bot and workers use: REDIS_URL, else the config's `redis:` section.
 */
export async function runChecks(
  config: FerryConfig,
  env: NodeJS.ProcessEnv,
  source: string,
): Promise<CheckResult[]> {
  const redis = redisConfigSchema.parse({
    ...config.redis,
    ...(env.REDIS_URL ? { url: env.REDIS_URL } : {}),
  });
  // One component after another: opening an encrypted SSH key (bcrypt) holds the event loop for
  // a while, and another component's timeout would fire before its answer was read.
  const results = [...(await checkRedis(redis)), ...(await driverChecks(config, env))];
  if (!config.slack)
    return [
      ...results,
      {
        component: 'slack',
        target: source,
        check: 'configured',
        verdict: 'skip',
        detail: 'no slack: section: only ferry-worker can run with this config (the bot needs one)',
      },
    ];
  return [
    ...results,
    ...(await checkSlack(parseSection(slackConfigSchema, config.slack, source, 'slack'), env)),
  ];
}

/** The checks of `fleet.driver`. */
async function driverChecks(config: FerryConfig, env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  const { driver } = config.fleet;
  const missing = (section: string): CheckResult[] => [
    {
      component: 'config',
      target: section,
      check: 'configured',
      verdict: 'fail',
      detail: `fleet.driver ${driver} needs the "${section}:" config section`,
    },
  ];
  if (driver === 'sim')
    return [
      {
        component: 'config',
        target: 'fleet.driver',
        check: 'driver',
        verdict: 'skip',
        detail: 'the simulator needs nothing outside ferry',
      },
    ];
  if (driver === 'nova') return config.nova ? checkNova(config.nova, env) : missing('nova');
  if (!config.ssh) return missing('ssh');
  const hosts = config.fleet.hosts.map((h) => h.name);
  const reach = await checkSsh(config.ssh, hosts, env);
  try {
    if (driver === 'qemu') {
      if (!config.qemu) return [...reach.results, ...missing('qemu')];
      return [
        ...reach.results,
        ...(await checkQemu(
          { qemu: config.qemu, policy: config.policy, instances: config.fleet.instances, hosts },
          reach.pool,
          reach.reachable,
        )),
      ];
    }
    const libvirt = withPolicyDefaults(config.libvirt ?? libvirtConfigSchema.parse({}), config.policy);
    // The driver's own precheck path, so the check and a migration reach peers the same way.
    const probe = new LibvirtDriver({
      fleet: fleetFromConfig(config),
      ssh: reach.pool,
      config: libvirt,
      clock: systemClock,
      migrationAddress: migrationAddresses(config.libvirt, config.ssh),
    });
    return [
      ...reach.results,
      ...(await checkLibvirt(
        { libvirt, policy: config.policy, reaches: (from, to) => probe.reachable(from, to) },
        reach.pool,
        reach.reachable,
      )),
    ];
  } finally {
    await reach.pool.close();
  }
}

/** Runs the checks and prints the table (or `--json`); exit code 0 when nothing failed, 1 otherwise. */
export async function check(
  config: FerryConfig,
  options: { json: boolean; source: string; env: NodeJS.ProcessEnv },
  io: { out: (text: string) => void },
): Promise<number> {
  const results = await runChecks(config, options.env, options.source);
  io.out(options.json ? JSON.stringify(checkJson(results), null, 2) : checkTable(results));
  return allPassed(results) ? 0 : 1;
}
