import type { SlackStandin, StoredMessage } from '../../src/demo/slack-standin.js';
import type { Block } from '../../src/views/blocks.js';
import { messageToText } from '../../src/views/text.js';
import { CHANNELS } from '../support/fake-slack.js';

/** Reading the stand-in's channels the way a person would: as text. */

/** A stored message as plain text (mentions stay `@U…`). */
export function textOf(message: StoredMessage): string {
  return messageToText({ text: message.text, blocks: message.blocks as unknown as Block[] });
}

function headerOf(message: StoredMessage): string | undefined {
  const first = message.blocks[0] as { type?: string; text?: { text?: string } } | undefined;
  return first?.type === 'header' ? first.text?.text : undefined;
}

/** The first message everyone sees (top level, not ephemeral) whose header starts with `prefix`. */
export function byHeader(messages: StoredMessage[], prefix: string): StoredMessage | undefined {
  return messages.find((m) => !m.threadTs && !m.visibleTo && headerOf(m)?.startsWith(prefix));
}

/** Every top-level progress message about `host` in the ops channel. */
export function progressMessages(slack: SlackStandin, host: string): StoredMessage[] {
  return slack
    .channel(CHANNELS.ops)
    .filter((m) => !m.threadTs && !m.visibleTo && headerOf(m)?.startsWith(`Evacuation of ${host}`));
}

/** Waits for `host`'s progress message, then for it to say the evacuation completed; resolves with it. */
export async function completedProgress(
  slack: SlackStandin,
  host: string,
  timeoutMs = 30_000,
): Promise<StoredMessage> {
  const progress = await slack.waitFor('the progress message', () => progressMessages(slack, host)[0]);
  await slack.waitFor(
    'the evacuation to complete',
    () => textOf(progress).includes(`Evacuation of ${host}: completed`),
    timeoutMs,
  );
  return progress;
}

/** The evacuation id mentioned in a text. */
export function evacuationId(text: string): string {
  const id = /\b(evac-[A-Za-z0-9._:-]+[A-Za-z0-9])/.exec(text)?.[1];
  if (!id) throw new Error(`no evacuation id in: ${text}`);
  return id;
}

/** Polls an async condition until it holds, or fails after `timeoutMs` saying what it waited for. */
export async function until(what: string, holds: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
