import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, Harness, simFleet, vms } from '../engine/store/redis/harness.js';
import { ofType, until } from '../engine/store/redis/support.js';

/**
 * The break-glass CLI against the durable engine: a real redis-server, a simulated fleet in its
 * own process and a real worker process run an evacuation; `ferry` processes (the same program
 * operators run) read it, pause, resume and approve it, with who did it in the audit.
 */

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness?.stop();
});

const OS_USER = userInfo().username;

// hv1-vm* converge on their own; hot-1 dirties memory faster than its stream carries, stalls and
// asks for post-copy, which someone must approve.
const HOT = '    - { name: hot-1, host: hv1, vcpus: 4, memoryGiB: 2, dirtyMiBps: 400 }';
const FLEET = `
timezone: UTC
${simFleet(['hv1', 'hv2', 'hv3'], vms('hv1', 4, 2), HOT)}
policy:
  streamCapGbps: 2
  maxPerSource: 2
  allowAutoConverge: false
  stallTimeoutS: 5
  approvalTimeoutS: 600
  # The live request only: a pre-approval asked at confirm lapses, undecided, when hot-1 stalls.
  askEarly: false
slack:
  progressChannel: C0PROGRESS
  operators: [U0OPER, U0ALICE]
  approvers: [U0BOB, U0CAROL]
breakGlass:
  users: { ${OS_USER}: U0OPER }
  approvers: [U0CAROL]
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `ferry ARGS` as its own process, the way an operator runs it. */
function ferry(args: string[], redisUrl: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args, '--redis', redisUrl],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('ferry break-glass commands', () => {
  it('shows, pauses, resumes and approves a running evacuation, each action audited with who and from where', async () => {
    const f = await harness.fixture(FLEET, 1);
    const run = (...args: string[]) => ferry([...args, '--config', f.file], harness.redis.url);
    await f.worker('w1');
    const { id } = await f.engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U0ALICE',
      maintenance: false,
    });
    await until(
      async () => (await f.engine.service.status(id)).state === 'draining',
      'draining',
      30_000,
      100,
    );

    const listed = await run('status');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(id);

    const paused = await run('pause', id);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toContain(`${id} paused by U0OPER`);
    await until(async () => (await f.engine.service.status(id)).state === 'paused', 'paused', 30_000, 100);

    // Only a maintenance whose outcome is unknown takes an answer: the engine's refusal, audited.
    const early = await run('maintenance', 'done', id);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('only a maintenance whose outcome is unknown takes done or retry');
    expect((await run('maintenance', 'maybe', id)).code).toBe(2);

    // --as someone who is not an operator: refused, audited as refused, nothing done.
    const stranger = await run('resume', id, '--as', 'U0NOBODY');
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain('U0NOBODY is not listed by user id in slack.operators');
    expect((await f.engine.service.status(id)).state).toBe('paused');

    const resumed = await run('resume', id, '--as', 'U0ALICE');
    expect(resumed.code, resumed.stderr).toBe(0);
    const status = await run('status', id, '--json');
    expect(JSON.parse(status.stdout).request.id).toBe(id);

    const requested = await until(
      async () => ofType(await f.engine.service.events(id), 'approval.requested')[0],
      'hot-1 to ask for an approval',
      60_000,
      200,
    );
    const approvalId = requested.approval.id;
    // The person at the terminal cannot be their own second pair of eyes, and only
    // breakGlass.approvers approve from the command line.
    const self = await run('approve', approvalId, '--as', 'U0OPER');
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('a second person must approve');
    const notListed = await run('approve', approvalId, '--as', 'U0BOB');
    expect(notListed.code).toBe(1);
    expect(notListed.stderr).toContain('U0BOB is not in breakGlass.approvers');
    const noList = join(tmpdir(), `ferry-no-approvers-${process.pid}.yaml`);
    writeFileSync(noList, readFileSync(f.file, 'utf8').replace('  approvers: [U0CAROL]\n', ''));
    const closed = await ferry(
      ['approve', approvalId, '--as', 'U0CAROL', '--config', noList],
      harness.redis.url,
    );
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain('approvals are given in Slack by a second person');
    expect(await f.engine.approvals.decision(approvalId)).toBeUndefined();

    const approved = await run('approve', approvalId, '--as', 'U0CAROL');
    expect(approved.code, approved.stderr).toBe(0);
    expect(await f.engine.approvals.decision(approvalId)).toMatchObject({
      outcome: 'approved',
      decidedBy: 'U0CAROL',
    });

    const ended = await finished(f.engine, id, 90_000);
    expect(ended.state).toBe('completed');
    const report = await run('report', id);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toContain('hot-1');

    const exported = join(tmpdir(), `ferry-audit-${process.pid}.jsonl`);
    const audit = await run('audit', id, '--export', exported);
    expect(audit.code, audit.stderr).toBe(0);
    const entries = readFileSync(exported, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const done = entries.filter((e) => e.refused === undefined);
    expect(done).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ who: 'U0OPER', action: 'pause', target: id, via: `cli:${OS_USER}` }),
        expect.objectContaining({ who: 'U0ALICE', action: 'resume', target: id, via: `cli:${OS_USER}` }),
        // Both names: the approver, and who typed it in at which terminal.
        expect.objectContaining({
          who: 'U0CAROL',
          action: 'approve',
          target: approvalId,
          via: `cli:${OS_USER} (break-glass, entered by U0OPER)`,
        }),
      ]),
    );
    const refused = entries.filter((e) => e.refused !== undefined).map((e) => [e.who, e.action]);
    expect(refused).toEqual(
      expect.arrayContaining([
        ['U0OPER', 'maintenance done'],
        ['U0NOBODY', 'resume'],
        ['U0OPER', 'approve'],
        ['U0BOB', 'approve'],
        ['U0CAROL', 'approve'],
      ]),
    );
    const approvals = done.filter((e) => e.action === 'approve');
    expect(approvals).toHaveLength(1);
  }, 240_000);

  it('recovers a stalled post-copy: the request reaches the worker that runs it, audited with who', async () => {
    // stuck-1's stream stops moving: its pre-copy asks for post-copy, and the post-copy stalls too.
    const fleet = simFleet(['hv1', 'hv2', 'hv3'], vms('hv1', 4, 2), HOT);
    const stuck = simFleet(
      ['hv1', 'hv2', 'hv3'],
      '    - { name: stuck-1, host: hv1, vcpus: 4, memoryGiB: 2, dirtyMiBps: 10 }',
    );
    const f = await harness.fixture(
      FLEET.replace(fleet, stuck).replace('policy:\n', 'policy:\n  allowPause: false\n'),
      1,
    );
    const run = (...args: string[]) => ferry([...args, '--config', f.file], harness.redis.url);
    await f.sim.injectFault({ kind: 'stall', instance: 'stuck-1', afterMs: 1000 });
    await f.worker('w1');
    const { id } = await f.engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U0ALICE',
      maintenance: false,
    });
    const migrationId = `${id}:stuck-1`;
    const requested = await until(
      async () => ofType(await f.engine.service.events(id), 'approval.requested')[0],
      'stuck-1 to ask for post-copy',
      60_000,
      200,
    );
    // Not in post-copy yet: the engine's refusal, audited.
    const early = await run('recover', migrationId);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('not in post-copy: nothing to recover');
    await f.engine.service.decide(requested.approval.id, 'approved', 'U0BOB');
    const stalled = await until(
      async () => ofType(await f.engine.service.events(id), 'migration.postcopy-stalled')[0],
      'the post-copy to stall',
      60_000,
      200,
    );
    expect(stalled.recoverable).toBe(true);

    const recovered = await run('recover', migrationId);
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(recovered.stdout).toContain(`post-copy of ${migrationId} recovering (U0OPER)`);
    const ran = await until(
      async () => ofType(await f.engine.service.events(id), 'migration.postcopy-recovery')[0],
      'the worker to recover it',
      30_000,
      200,
    );
    expect(ran).toMatchObject({ migrationId, by: 'U0OPER', ok: true });
    expect((await finished(f.engine, id, 60_000)).state).toBe('completed');
    const audit = await f.engine.service.audit(id);
    expect(
      audit.filter((e) => e.action === 'recover').map((e) => [e.who, e.via, e.refused !== undefined]),
    ).toEqual([
      ['U0OPER', `cli:${OS_USER}`, true],
      ['U0OPER', `cli:${OS_USER}`, false],
    ]);
  }, 180_000);

  it('refuses an OS user it cannot name, bad ids and an unknown evacuation, saying what was expected', async () => {
    const f = await harness.fixture(FLEET.replace(`${OS_USER}: U0OPER`, 'someoneelse: U0OPER'), 1);
    const run = (...args: string[]) => ferry([...args, '--config', f.file], harness.redis.url);
    const unnamed = await run('abort', 'evac-hv1-20261201T0000');
    expect(unnamed.code).toBe(1);
    expect(unnamed.stderr).toContain(`OS user "${OS_USER}" has no identity: add it to breakGlass.users`);
    const badId = await run('status', 'no spaces;rm');
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('is not an id such as evac-cmp-042');
    const unknown = await run('status', 'evac-none');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no evacuation or migration with id evac-none');
    expect((await f.engine.audit.entries()).map((e) => [e.who, e.action, e.refused !== undefined])).toEqual([
      [`os:${OS_USER}`, 'abort', true],
    ]);
  }, 60_000);
});
