import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCommand } from '../../src/commands/grammar.js';
import { COMMAND_ROLE } from '../../src/commands/roles.js';
import { helpMessage } from '../../src/views/replies.js';
import { messageToText } from '../../src/views/text.js';
import { USAGE, VERBS } from '../../src/views/usage.js';

/** Every verb the grammar reads is listed where people look: `help` and the manifest's usage hint. */
describe('every /ferry verb', () => {
  const manifest = parseYaml(readFileSync(join(import.meta.dirname, '..', '..', 'manifest.yml'), 'utf8')) as {
    features: { slash_commands: { command: string; usage_hint: string }[] };
  };
  const hint = manifest.features.slash_commands.find((c) => c.command === '/ferry')!.usage_hint;

  it.each(VERBS)('%s is in help, in the usage hint, parses and has a role rule', (verb) => {
    expect(messageToText(helpMessage(undefined, '/ferry'))).toContain(`/ferry ${USAGE[verb]}`);
    expect(hint.split(' | ').map((part) => part.split(' ')[0])).toContain(verb);
    expect(verb in COMMAND_ROLE).toBe(true);
    const parsed = parseCommand(verb, { now: 0, timezone: 'UTC' });
    // A bare verb either parses or says what it needs, with its own usage.
    if (!parsed.ok) expect(parsed.usage).toBe(`/ferry ${USAGE[verb]}`);
  });

  it('keeps the usage hint within what Slack shows', () => {
    expect(hint.length).toBeLessThanOrEqual(1000);
  });
});

describe('the manifest', () => {
  const manifest = parseYaml(readFileSync(join(import.meta.dirname, '..', '..', 'manifest.yml'), 'utf8')) as {
    features: { app_home: { home_tab_enabled: boolean } };
    oauth_config: { scopes: { bot: string[] } };
    settings: { event_subscriptions: { bot_events: string[] } };
  };

  it('has what the buttons, the App Home and the chart need', () => {
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
    expect(manifest.settings.event_subscriptions.bot_events).toContain('app_home_opened');
    expect(manifest.oauth_config.scopes.bot).toEqual(
      expect.arrayContaining(['commands', 'chat:write', 'files:write']),
    );
  });
});
