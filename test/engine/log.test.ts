import { PassThrough } from 'node:stream';
import { LogLevel } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { boltLogger } from '../../src/commands/bolt-logger.js';
import { jsonLogger, type Log, structuredLog } from '../../src/engine/log.js';

/** ferry's JSON log lines: ids as fields (a migration's evacuation derived), every credential redacted. */

function capture(name = 'ferry-test'): { log: Log; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk) => {
    text += String(chunk);
  });
  const log = structuredLog(jsonLogger(name, stream));
  return {
    log,
    lines: () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('structured logs', () => {
  it('carry the migration and its evacuation as fields and redact the message and the fields', async () => {
    const { log, lines } = capture();
    const migrationId = 'evac-cmp-001-20261201T2300:db-07';
    log(`${migrationId}: sample failed: cannot reach https://admin:s3cret-pw@nova.example:8774/v2.1`, {
      migrationId,
      level: 'warn',
      cause: { url: 'redis://ferry:other-pw@10.0.0.1:6379/0', token: 'xoxb-123-abc' },
    });
    log('plain line');
    await new Promise((r) => setImmediate(r));
    const [line, plain] = lines();
    expect(line).toMatchObject({
      name: 'ferry-test',
      level: 'warn',
      migrationId,
      evacuationId: 'evac-cmp-001-20261201T2300',
      msg: `${migrationId}: sample failed: cannot reach https://admin:***@nova.example:8774/v2.1`,
      cause: { url: 'redis://ferry:***@10.0.0.1:6379/0', token: '***' },
    });
    expect(JSON.stringify(lines())).not.toMatch(/s3cret-pw|other-pw|xoxb-123/);
    expect(plain).toMatchObject({ level: 'info', msg: 'plain line' });
    expect(plain!.evacuationId).toBeUndefined();
  });

  it('take Bolt’s lines too, redacted, at Bolt’s level and above', async () => {
    const { log, lines } = capture();
    const logger = boltLogger(log, LogLevel.WARN);
    logger.info('dropped below the level');
    logger.error('An API error occurred: token', 'xoxb-999-secret', {
      url: 'https://u:pw-bolt@slack.example/api',
    });
    await new Promise((r) => setImmediate(r));
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ level: 'error', component: 'bolt' });
    expect(String(lines()[0]!.msg)).not.toMatch(/xoxb-999|pw-bolt/);
  });
});
