import { describe, expect, it } from 'vitest';
import { slackConfigSchema } from '../../src/commands/config.js';
import { parseConfig } from '../../src/engine/compose.js';
import { parseSection } from '../../src/engine/config.js';
import { ConfigError } from '../../src/engine/errors.js';

describe('the slack: section', () => {
  it('passes through the engine and is validated by the Slack surface, naming file and path', () => {
    const config = parseConfig(
      'fleet: {}\nslack: { progressChannel: general, operators: [alice] }\n',
      'ferry.yaml',
    );
    let error: unknown;
    try {
      parseSection(slackConfigSchema, config.slack, 'ferry.yaml', 'slack');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).userMessage;
    expect(message).toContain('ferry.yaml is not a valid ferry config');
    expect(message).toContain('slack.progressChannel: a Slack channel id');
    expect(message).toContain('slack.operators[0]: a Slack user id');
  });

  it('fills in the defaults of a valid section', () => {
    const slack = parseSection(slackConfigSchema, { progressChannel: 'C0123OPS' }, 'ferry.yaml', 'slack');
    expect(slack).toMatchObject({ mode: 'socket', updateIntervalS: 3, updatesPerMinute: 45 });
  });
});
