import type { Clock } from './clock.js';
import type { FerryConfig } from './config.js';
import type { Driver } from './drivers/driver.js';
import { policyForDriver } from './policy.js';
import { runnerDeps } from './runner/evacuation.js';
import { InProcessLauncher } from './runner/local-launcher.js';
import { EngineService } from './service.js';
import {
  MemoryAdmissionGate,
  MemoryApprovals,
  MemoryAudit,
  MemoryControl,
  MemoryLocks,
  MemoryStore,
} from './store/memory.js';

/**
 * The engine in one process over memory: the CLI, the bench and tests. `answer` decides every
 * approval request at once (the CLI's --approve); without it, approvals wait for `service.decide`.
 */
export function createLocalEngine(options: {
  config: Pick<FerryConfig, 'policy' | 'windows' | 'timezone' | 'maintenance'>;
  driver: Driver;
  clock: Clock;
  answer?: { outcome: 'approved' | 'rejected'; by: string };
  via?: string;
  log?: (line: string) => void;
}) {
  const { driver, clock } = options;
  const config = { ...options.config, policy: policyForDriver(options.config.policy, driver) };
  const ports = {
    store: new MemoryStore(),
    approvals: new MemoryApprovals(options.answer),
    control: new MemoryControl(),
    locks: new MemoryLocks(),
    audit: new MemoryAudit(),
    admission: new MemoryAdmissionGate(),
  };
  const launcher = new InProcessLauncher(runnerDeps(config, driver, clock, ports, options.log));
  const service = new EngineService({ ...ports, config, driver, launcher, clock, via: options.via ?? 'cli' });
  return { service, launcher, ...ports };
}
