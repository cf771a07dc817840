/**
 * Manual scale check (not a test, no timing assertion): `npx tsx test/engine/planning/scale.manual.ts`.
 * Plans a drain and a whole-fleet campaign on 1,000 hosts with 40,000 VMs and prints the times.
 */
import { defaultPolicy } from '../../../src/engine/config.js';
import { type Fleet, GBPS, GiB, type Host, type Instance, MiB } from '../../../src/engine/model.js';
import {
  hostsWithLabel,
  planCampaign,
  planCampaignNaive,
  planEvacuation,
} from '../../../src/engine/planning/index.js';

let seed = 42;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const sizes = [2, 4, 4, 8, 8, 8, 16, 16, 32];
const hosts: Host[] = [];
const instances: Instance[] = [];
for (let h = 0; h < 1000; h++) {
  const name = `cmp-${String(h).padStart(4, '0')}`;
  hosts.push({
    name,
    vcpus: 256,
    memoryBytes: 768 * GiB,
    nicBytesPerS: 25 * GBPS,
    cpuModel: ['Cascadelake', 'Icelake', 'Sapphirerapids'][h % 3],
    az: `az${h % 4}`,
    labels: h % 10 === 0 ? ['rack-a'] : [],
    schedulable: true,
  });
  // The last 20 hosts are spare.
  if (h >= 980) continue;
  for (let v = 0; v < 40.8; v++) {
    const gib = sizes[Math.floor(random() * sizes.length)]!;
    instances.push({
      name: `vm-${h}-${v}`,
      host: name,
      vcpus: Math.max(1, gib / 4),
      memoryBytes: gib * GiB,
      antiAffinityGroup: random() < 0.05 ? `aa-${Math.floor(random() * 200)}` : undefined,
      migratable: random() > 0.002,
      notMigratableReason: 'passthrough device',
      dirtyBytesPerS: random() * 300 * MiB,
    });
  }
}
const fleet: Fleet = { hosts, instances };
console.log(`${hosts.length} hosts, ${instances.length} VMs`);
// Wall time, and CPU time (what the planner costs when other processes share the two cores).
const time = (label: string, fn: () => string) => {
  const t = performance.now();
  const cpu = process.cpuUsage();
  const what = fn();
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  console.log(
    `${label}: ${(performance.now() - t).toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU (${what})`,
  );
};
for (let round = 0; round < 3; round++) {
  time('drain cmp-0007', () => {
    const plan = planEvacuation(fleet, 'cmp-0007', defaultPolicy, { now: 0 });
    return `${plan.moves.length} moves, ${plan.blockers.length} blockers, makespan ${(plan.predictedMakespanMs / 1000).toFixed(0)} s`;
  });
  time('campaign, all 1000 hosts', () => {
    const plan = planCampaign(
      fleet,
      hosts.map((h) => h.name),
      { parallel: 2 },
    );
    return `${plan.steps.length} steps, ${plan.migrationsPerVm.toFixed(3)} migrations/VM, ${plan.blockers.length} blockers`;
  });
  time('campaign, rack-a (100 hosts)', () => {
    const plan = planCampaign(fleet, hostsWithLabel(fleet, 'rack-a'));
    return `${plan.steps.length} steps, ${plan.migrationsPerVm.toFixed(3)} migrations/VM`;
  });
  time('naive campaign, all 1000 hosts', () => {
    const plan = planCampaignNaive(
      fleet,
      hosts.map((h) => h.name),
      { parallel: 2 },
    );
    return `${plan.steps.length} steps, ${plan.migrationsPerVm.toFixed(3)} migrations/VM`;
  });
}
{
  const plan = planCampaign(
    fleet,
    hosts.map((h) => h.name),
    { parallel: 2 },
  );
  const codes = new Map<string, number>();
  for (const b of plan.blockers) codes.set(b.code, (codes.get(b.code) ?? 0) + 1);
  console.log('campaign blockers by code', Object.fromEntries(codes));
  const drain = planEvacuation(fleet, 'cmp-0007', defaultPolicy, { now: 0 });
  console.log(`drain lower bound ${(drain.lowerBoundMs / 1000).toFixed(0)} s`);
}
