import { z } from 'zod';
import type { PolicyConfig } from '../../engine/config.js';
import type { QemuConfig } from '../../engine/drivers/qemu/config.js';
import { QmpClient } from '../../engine/drivers/qemu/qmp.js';
import { NotFoundError } from '../../engine/errors.js';
import type { SshPool } from '../../engine/ssh/pool.js';
import { shellCommand } from '../../engine/ssh/quote.js';
import { attempt, type CheckResult, versionAtLeast } from './result.js';

/**
 * QEMU 9.0 fixed guest memory arriving stale after a migration under software emulation (TCG,
 * upstream 03bfc2188f); under KVM older versions migrate correctly.
 */
const TCG_SAFE_QEMU = '9.0.0';

const capabilitiesSchema = z.array(z.object({ capability: z.string(), state: z.boolean() }));

/** The migration capabilities ferry sets, with the policy switch that makes each needed. */
export function neededCapabilities(
  policy: PolicyConfig,
  config: QemuConfig,
): { name: string; why: string }[] {
  const needed = [{ name: 'events', why: 'MIGRATION events between polls' }];
  if (config.armAutoConverge ?? policy.allowAutoConverge)
    needed.push({ name: 'auto-converge', why: 'policy.allowAutoConverge' });
  if (policy.allowPostCopy) needed.push({ name: 'postcopy-ram', why: 'policy.allowPostCopy' });
  if (policy.multifdChannels > 1) needed.push({ name: 'multifd', why: 'policy.multifdChannels' });
  return needed;
}

/**
 * Each configured instance's QEMU through its QMP socket over SSH: the version and the migration
 * capabilities ferry will set (read with query-migrate-capabilities, nothing set); and on each
 * host the program of `qemu.incomingCommand` (not run: it would start a QEMU). `multifd` is
 * asked for only where policy.multifdChannels allows more than one channel. A QMP socket takes one client at a time: while a ferry
 * worker follows a migration on it, this check waits up to qemu.qmpTimeoutS.
 */
export async function checkQemu(
  options: {
    qemu: QemuConfig;
    policy: PolicyConfig;
    instances: readonly { name: string; host: string }[];
    hosts: readonly string[];
  },
  pool: SshPool,
  reachable: readonly string[],
): Promise<CheckResult[]> {
  const { qemu, policy } = options;
  const needed = neededCapabilities(policy, qemu);
  const monitors = options.instances
    .filter((i) => reachable.includes(i.host))
    .map(async (instance): Promise<CheckResult[]> => {
      const socket = qemu.qmpSocket
        .replaceAll('{host}', instance.host)
        .replaceAll('{instance}', instance.name);
      const target = `${instance.host}/${instance.name}`;
      let client: QmpClient | undefined;
      const opened = await attempt({ component: 'qemu', target, check: 'version' }, async () => {
        const stream = await pool.openStreamLocal(instance.host, socket).catch((err: unknown) => {
          throw new NotFoundError(
            `cannot open ${socket} on ${instance.host} (${err instanceof Error ? err.message : String(err)}): is ${instance.name}'s QEMU running there, with QMP on qemu.qmpSocket?`,
          );
        });
        client = await QmpClient.connect(stream, {
          label: `${instance.host}:${socket}`,
          timeoutMs: qemu.qmpTimeoutS * 1000,
        });
        const version = client.version ?? 'unknown';
        return versionAtLeast(version, TCG_SAFE_QEMU)
          ? { verdict: 'ok', detail: `QEMU ${version} on ${socket}` }
          : {
              verdict: 'warn',
              detail: `QEMU ${version} on ${socket}: before ${TCG_SAFE_QEMU} a migration under software emulation (TCG) can corrupt guest memory; KVM guests are not affected`,
            };
      });
      if (!client) return [opened];
      const monitor = client;
      try {
        const caps = await attempt(
          { component: 'qemu', target, check: 'migration capabilities' },
          async () => {
            const offered = new Set(
              (await monitor.query('query-migrate-capabilities', capabilitiesSchema)).map(
                (c) => c.capability,
              ),
            );
            const missing = needed.filter((n) => !offered.has(n.name));
            const names = needed.map((n) => n.name).join(', ');
            return missing.length === 0
              ? { verdict: 'ok', detail: `offers ${names}` }
              : {
                  verdict: 'fail',
                  detail: `does not offer ${missing.map((m) => `${m.name} (needed for ${m.why})`).join(', ')}`,
                };
          },
        );
        return [opened, caps];
      } finally {
        monitor.close();
      }
    });
  const program = qemu.incomingCommand.trim().split(/\s+/)[0]!;
  const incoming = options.hosts
    .filter((h) => reachable.includes(h))
    .map((host) =>
      attempt({ component: 'qemu', target: host, check: 'incoming command' }, async () => {
        const r = await pool.exec(host, `command -v ${shellCommand([program])}`);
        return r.code === 0
          ? { verdict: 'ok', detail: `${program} is ${r.stdout.trim()}; not run (it starts a QEMU)` }
          : { verdict: 'fail', detail: `${program} (qemu.incomingCommand) is not found on ${host}` };
      }),
    );
  return [...(await Promise.all(monitors)).flat(), ...(await Promise.all(incoming))];
}
