/**
 * The small part of Block Kit ferry uses, with Slack's limits enforced at construction: every
 * builder in src/views goes through these, so no message can be refused for its size.
 */

/** Slack's limits (https://docs.slack.dev/reference/block-kit/blocks). */
export const LIMITS = {
  blocksPerMessage: 50,
  sectionText: 3000,
  headerText: 150,
  contextElements: 10,
  buttonText: 75,
  buttonValue: 2000,
  fallbackText: 4000,
} as const;

export interface TextObject {
  type: 'mrkdwn' | 'plain_text';
  text: string;
}

export interface Button {
  type: 'button';
  text: { type: 'plain_text'; text: string };
  action_id: string;
  value: string;
  style?: 'primary' | 'danger';
}

export type Block =
  | { type: 'header'; text: { type: 'plain_text'; text: string } }
  | { type: 'section'; text: TextObject }
  | { type: 'context'; elements: TextObject[] }
  | { type: 'divider' }
  | { type: 'actions'; block_id: string; elements: Button[] };

/** A message: Block Kit plus the plain fallback Slack shows in notifications. */
export interface Message {
  text: string;
  blocks: Block[];
}

/** Cuts text to `max` characters, marking the cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

export function header(text: string): Block {
  return { type: 'header', text: { type: 'plain_text', text: clip(text, LIMITS.headerText) } };
}

export function section(markdown: string): Block {
  return { type: 'section', text: { type: 'mrkdwn', text: clip(markdown, LIMITS.sectionText) } };
}

export function context(...markdown: string[]): Block {
  return {
    type: 'context',
    elements: markdown
      .slice(0, LIMITS.contextElements)
      .map((text) => ({ type: 'mrkdwn', text: clip(text, LIMITS.sectionText) })),
  };
}

export function divider(): Block {
  return { type: 'divider' };
}

export function button(text: string, actionId: string, value: string, style?: 'primary' | 'danger'): Button {
  if (value.length > LIMITS.buttonValue) throw new RangeError(`button value of ${value.length} characters`);
  return {
    type: 'button',
    text: { type: 'plain_text', text: clip(text, LIMITS.buttonText) },
    action_id: actionId,
    value,
    ...(style ? { style } : {}),
  };
}

export function actions(blockId: string, ...buttons: Button[]): Block {
  return { type: 'actions', block_id: blockId, elements: buttons };
}

/**
 * Packs lines into as few sections as possible, each within Slack's text limit, using at most
 * `maxBlocks` sections; returns the sections and how many lines did not fit.
 */
export function packLines(lines: string[], maxBlocks: number): { blocks: Block[]; omitted: number } {
  const blocks: Block[] = [];
  let current: string[] = [];
  let length = 0;
  let used = 0;
  for (const line of lines) {
    const text = clip(line, LIMITS.sectionText);
    if (current.length > 0 && length + 1 + text.length > LIMITS.sectionText) {
      if (blocks.length + 1 >= maxBlocks) break;
      blocks.push(section(current.join('\n')));
      current = [];
      length = 0;
    }
    if (maxBlocks <= 0) break;
    current.push(text);
    length += (current.length > 1 ? 1 : 0) + text.length;
    used++;
  }
  if (current.length > 0) blocks.push(section(current.join('\n')));
  return { blocks, omitted: lines.length - used };
}

/** Builds a message, clipping the fallback text and refusing more blocks than Slack allows. */
export function message(text: string, blocks: Block[]): Message {
  if (blocks.length > LIMITS.blocksPerMessage) throw new RangeError(`${blocks.length} blocks in one message`);
  return { text: clip(text, LIMITS.fallbackText), blocks };
}
