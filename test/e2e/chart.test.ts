import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type Harness, type StoredMessage, startHarness, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { byHeader, textOf } from './story.js';

/**
 * The post-mortem's chart: drawn from the migrations' traces when the evacuation ends and
 * uploaded with files.uploadV2 into the report's thread (the stand-in answers
 * files.getUploadURLExternal with a loopback URL and records the bytes). Without `files:write`
 * the report is posted alone and its thread says why.
 */

const { alice, bob } = USERS;

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(png.subarray(12, 16).toString()).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** Drains cmp-001 (bob pre-approves db-01's switchover) and resolves with the post-mortem. */
async function drain(harness: Harness): Promise<StoredMessage> {
  const { slack } = harness;
  const evacuate = await slack.slash(alice, 'evacuate cmp-001 now chart', CHANNELS.ops);
  const preview = await slack.waitFor('the preview', () => slack.answers(evacuate.responseUrl!)[0]);
  await slack.click(alice, preview, 'Confirm');
  // db-01's switchover is asked early, in the evacuation's one approval message.
  const request = await slack.waitFor('the approval message', () =>
    byHeader(slack.channel(CHANNELS.approvers), 'Approvals for'),
  );
  await slack.click(bob, request, 'Approve');
  return slack.waitFor('the post-mortem', () => byHeader(slack.channel(CHANNELS.ops), 'Post-mortem'), 60_000);
}

describe('the post-mortem chart', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('uploads a PNG of memory left and link throughput into the report’s thread (socket mode)', async () => {
    const engine = simEngine('demo', 60);
    harness = await startHarness({ mode: 'socket', service: engine.service, now: () => engine.clock.now() });
    const { slack } = harness;
    const report = await drain(harness);
    const shared = await slack.waitFor('the chart in the report’s thread', () =>
      slack.thread(CHANNELS.ops, report.ts).find((m) => m.file),
    );
    const upload = slack.uploads.get(shared.file!.id)!;
    expect(upload.filename).toMatch(/^evac-cmp-001-.*\.png$/);
    expect(upload.title).toContain('memory left to copy and link throughput');
    expect(upload.altText).toContain('switchover marked');
    expect(upload.bytes!.length).toBe(upload.length);
    const { width, height } = pngSize(upload.bytes!);
    expect(width).toBeGreaterThan(1600);
    expect(height).toBeGreaterThan(1000);
    // The curves come from traces at about a second of engine time, not the 10 s progress events.
    const evacuation = (await engine.service.list({ all: true })).find(
      (e) => e.request.source === 'cmp-001',
    )!;
    const db = evacuation.migrations.find((m) => m.instance === 'db-01')!;
    expect(db.trace!.points.length).toBeGreaterThan(20);
    const calls = slack.calls.map((c) => c.method);
    expect(calls).toContain('files.getUploadURLExternal');
    expect(calls).toContain('files.completeUploadExternal');
  });

  it('posts the report without the chart, and says so, when the app lacks files:write (http mode)', async () => {
    const engine = simEngine('demo', 60);
    harness = await startHarness({
      mode: 'http',
      service: engine.service,
      now: () => engine.clock.now(),
      scopes: ['commands', 'chat:write', 'usergroups:read'],
    });
    const { slack } = harness;
    const report = await drain(harness);
    const note = await slack.waitFor('the note about the chart', () =>
      slack.thread(CHANNELS.ops, report.ts).find((m) => textOf(m).includes('files:write')),
    );
    expect(textOf(note)).toContain('the chart was not attached');
    expect(slack.uploads.size).toBe(0);
    expect(slack.calls.find((c) => c.method === 'files.getUploadURLExternal')).toBeDefined();
  });
});
