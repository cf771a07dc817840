import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type Harness, startHarness, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { byHeader, textOf, until } from './story.js';

/**
 * ferry's own App Home (the standalone bot mounts ferry with `home: true`): opening the tab sends
 * app_home_opened, and ferry publishes what is running with its progress, the disabled hosts and
 * why, the maintenance windows and the latest post-mortems.
 */

const { alice, carol } = USERS;

const homeText = (view: { blocks: unknown[] }) => textOf({ text: '', blocks: view.blocks } as never);

describe.each(['socket', 'http'] as const)('ferry’s App Home in %s mode', (mode) => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('shows running evacuations, disabled hosts, windows and the latest post-mortems', async () => {
    // An approval nobody answers expires after 2 simulated minutes, not 15: the drain ends sooner.
    const engine = simEngine('small', 60, { approvalTimeoutS: 120 });
    harness = await startHarness({ mode, service: engine.service, now: () => engine.clock.now() });
    const { slack } = harness;

    const publishes = () => slack.views.filter((v) => v.method === 'views.publish').length;
    const open = async (user: string) => {
      const before = publishes();
      const delivery = await slack.openHome(user);
      expect(delivery.status).toBe(200);
      await slack.waitFor('views.publish', () => publishes() > before);
      return homeText(slack.home(user)!.view as { blocks: unknown[] });
    };

    const empty = await open(carol);
    expect(empty).toContain('== ferry: live migration ==');
    expect(empty).toContain('Nothing is running or scheduled.');
    expect(empty).toContain('Every host takes new VMs.');
    expect(empty).toMatch(/Maintenance windows \(1\)\nsaturday-night sat 02:00–05:00 Europe\/London · next /);
    expect(empty).toContain('No evacuation has ended yet.');

    // A drain: running with its progress, its host disabled and why.
    const evacuate = await slack.slash(alice, 'evacuate cmp-001 now patching', CHANNELS.ops);
    const preview = await slack.waitFor('the preview', () => slack.answers(evacuate.responseUrl!)[0]);
    await slack.click(alice, preview, 'Confirm');
    await until('draining', async () =>
      (await engine.service.list()).some(
        (e) => e.state === 'draining' && e.migrations.some((m) => m.lastSample),
      ),
    );
    const running = await open(alice);
    expect(running).toMatch(
      /Running and scheduled \(1\)\n🔄 evac-cmp-001-\S+ cmp-001 draining [█░]{10} \d+% · \d+\/\d+ VMs moved, \d+ moving · by @U0ALICE/,
    );
    expect(running).toMatch(/Disabled hosts \(1\)\n🔴 cmp-001 — ferry evacuation evac-cmp-001-\S+: patching/);

    // Once it ended: the post-mortem is listed, with the command that shows it.
    await slack.waitFor(
      'the post-mortem',
      () => byHeader(slack.channel(CHANNELS.ops), 'Post-mortem'),
      60_000,
    );
    const ended = await open(alice);
    expect(ended).toContain('Nothing is running or scheduled.');
    expect(ended).toMatch(
      /Latest post-mortems \(1\)\n\S+ evac-cmp-001-\S+ cmp-001 (completed|partial) .*· \/ferry report evac-cmp-001-/,
    );
    expect(slack.home(alice)!.view.type).toBe('home');
  });
});
