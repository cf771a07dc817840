import { configDefaults, defineConfig } from 'vitest/config';

// Test files that run QEMU or libvirt guests, a Redis HA set, or kill and race processes (the
// SIGKILL crash tests). Each TCG guest keeps a core busy and the others time what they assert
// against real processes, so these run one file at a time, after the light files, instead of
// starving each other on a 2-core machine. A new file that starts such processes belongs here.
const HEAVY = [
  'test/engine/drivers/qemu/{engine,driver,guest,multifd,postcopy-recovery}.test.ts',
  'test/engine/drivers/libvirt/{engine,topology}.test.ts',
  'test/engine/drivers/sim/server.test.ts',
  'test/engine/store/redis/{crash,durable,processes,ports,upgrade}.test.ts',
  'test/cli/breakglass.test.ts',
  'test/engine/store/redis/ha/*.test.ts',
  'test/e2e/resilience.test.ts',
  'test/cli/check-hypervisors.test.ts',
  'test/cli/check-cluster.test.ts',
];

export default defineConfig({
  test: {
    // Integration tests start real redis-server, sshd and QEMU processes: keep them from starving
    // each other on a 2-core machine.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'light',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...HEAVY],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'heavy',
          include: HEAVY,
          fileParallelism: false,
          // The libvirt hosts (network namespaces) are shared by the files that need them:
          // removed before the run if a crashed one left them, and after it.
          globalSetup: ['test/support/netns/global-setup.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
