/**
 * The small part of Block Kit ferry uses, with Slack's limits enforced at construction: every
 * builder in src/views goes through these, so no message can be refused for its size. Text from
 * users and tenants (VM and host names from a cloud, reasons, causes) goes into mrkdwn only
 * through `escapeMrkdwn` or `code`, so `<!channel>`, `<@U…>` and `<https://…|…>` stay words.
 */

/** Slack's limits (https://docs.slack.dev/reference/block-kit/blocks). */
export const LIMITS = {
  blocksPerMessage: 50,
  sectionText: 3000,
  headerText: 150,
  contextElements: 10,
  buttonText: 75,
  buttonValue: 2000,
  /** A confirm dialog's title, its text, and its two buttons' labels. */
  dialogTitle: 100,
  dialogText: 300,
  dialogButton: 30,
  fallbackText: 4000,
  /**
   * All the text of a message's blocks together: Slack refuses more (`msg_blocks_too_long`) even
   * when every block is within its own limit (bolt-js #2509, #2867).
   */
  messageText: 12_000,
} as const;

export interface TextObject {
  type: 'mrkdwn' | 'plain_text';
  text: string;
}

/** Slack's "are you sure?" dialog shown before a button's click is sent. */
export interface ConfirmDialog {
  title: { type: 'plain_text'; text: string };
  text: { type: 'mrkdwn'; text: string };
  confirm: { type: 'plain_text'; text: string };
  deny: { type: 'plain_text'; text: string };
  style?: 'primary' | 'danger';
}

export interface Button {
  type: 'button';
  text: { type: 'plain_text'; text: string };
  action_id: string;
  value: string;
  style?: 'primary' | 'danger';
  confirm?: ConfirmDialog;
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

/**
 * Cuts text to at most `max` UTF-16 units (Slack's count; a code point is one or two), marking
 * the cut. It cuts between code points, never leaving half a surrogate pair, and never inside an
 * entity that escaping made (`&amp;`, `&lt;`, `&gt;`), which would show as a stray `&am`.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  const amp = text.lastIndexOf('&', end - 1);
  if (amp >= 0 && end - amp < 5 && /^&(?:amp|lt|gt);/.test(text.slice(amp, amp + 5))) end = amp;
  return `${text.slice(0, end)}…`;
}

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/**
 * A name as inline code, escaped: the backticks are for looks only (they do not stop mentions or
 * links), and a backtick inside the name is shown as a look-alike so it cannot close the span.
 */
export function code(text: string): string {
  return `\`${escapeMrkdwn(text).replaceAll('`', 'ˋ')}\``;
}

/** The characters of text in a block, as Slack counts them against `LIMITS.messageText`. */
export function blockText(block: Block): number {
  switch (block.type) {
    case 'header':
    case 'section':
      return block.text.text.length;
    case 'context':
      return block.elements.reduce((n, e) => n + e.text.length, 0);
    case 'actions':
      return block.elements.reduce((n, b) => n + b.text.text.length, 0);
    case 'divider':
      return 0;
  }
}

/** The text of all `blocks` together. */
export function textLength(blocks: readonly Block[]): number {
  return blocks.reduce((n, b) => n + blockText(b), 0);
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

export function button(
  text: string,
  actionId: string,
  value: string,
  style?: 'primary' | 'danger',
  confirm?: ConfirmDialog,
): Button {
  if (value.length > LIMITS.buttonValue) throw new RangeError(`button value of ${value.length} characters`);
  return {
    type: 'button',
    text: { type: 'plain_text', text: clip(text, LIMITS.buttonText) },
    action_id: actionId,
    value,
    ...(style ? { style } : {}),
    ...(confirm ? { confirm } : {}),
  };
}

/** A confirm dialog within Slack's limits: `markdown` says what the click will do. */
export function confirmDialog(
  title: string,
  markdown: string,
  confirm: string,
  deny = 'Cancel',
  style?: 'primary' | 'danger',
): ConfirmDialog {
  const plain = (text: string, max: number) => ({ type: 'plain_text' as const, text: clip(text, max) });
  return {
    title: plain(title, LIMITS.dialogTitle),
    text: { type: 'mrkdwn', text: clip(markdown, LIMITS.dialogText) },
    confirm: plain(confirm, LIMITS.dialogButton),
    deny: plain(deny, LIMITS.dialogButton),
    ...(style ? { style } : {}),
  };
}

export function actions(blockId: string, ...buttons: Button[]): Block {
  return { type: 'actions', block_id: blockId, elements: buttons };
}

/**
 * Packs lines into as few sections as possible, each within Slack's text limit, using at most
 * `maxBlocks` sections and `maxChars` characters in all; returns the sections and how many lines
 * did not fit.
 */
export function packLines(
  lines: string[],
  maxBlocks: number,
  maxChars: number = LIMITS.messageText,
): { blocks: Block[]; omitted: number } {
  const blocks: Block[] = [];
  let current: string[] = [];
  let length = 0;
  let total = 0;
  let used = 0;
  for (const line of lines) {
    const text = clip(line, LIMITS.sectionText);
    if (total + text.length + 1 > maxChars) break;
    total += text.length + 1;
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

/**
 * Builds a message, clipping the fallback text and refusing more blocks or more text than Slack
 * allows: the views budget their parts, so either is a bug in a view, not something to send.
 */
export function message(text: string, blocks: Block[]): Message {
  if (blocks.length > LIMITS.blocksPerMessage) throw new RangeError(`${blocks.length} blocks in one message`);
  const total = textLength(blocks);
  if (total > LIMITS.messageText) throw new RangeError(`${total} characters of text in one message`);
  return { text: clip(text, LIMITS.fallbackText), blocks };
}
