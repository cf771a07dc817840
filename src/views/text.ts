import type { Block, Message } from './blocks.js';

/**
 * Plain text for a terminal: the same messages the channel gets, readable without Slack. Used by
 * the demo and the console; `names` turns user and channel ids into names.
 */
export function messageToText(
  msg: Pick<Message, 'text'> & { blocks?: Block[] },
  names: Record<string, string> = {},
): string {
  if (!msg.blocks || msg.blocks.length === 0) return mrkdwnToText(msg.text, names);
  return msg.blocks
    .map((block) => blockToText(block, names))
    .filter((line) => line.length > 0)
    .join('\n');
}

function blockToText(block: Block, names: Record<string, string>): string {
  switch (block.type) {
    case 'header':
      return `== ${block.text.text} ==`;
    case 'section':
      return mrkdwnToText(block.text.text, names);
    case 'context':
      return block.elements.map((e) => `  ${mrkdwnToText(e.text, names)}`).join('\n');
    case 'divider':
      return '----';
    case 'actions':
      return block.elements.map((b) => `[ ${b.text.text} ]`).join(' ');
  }
}

/** Strips mrkdwn markers and resolves mentions and escapes. */
export function mrkdwnToText(text: string, names: Record<string, string> = {}): string {
  return text
    .replace(/<@([A-Z0-9]+)>/g, (_, id: string) => `@${names[id] ?? id}`)
    .replace(/<#([A-Z0-9]+)(?:\|[^>]*)?>/g, (_, id: string) => `#${names[id] ?? id}`)
    .replace(/```/g, '')
    .replace(/(^|[\s(])[*_]([^*_\n]+)[*_](?=$|[\s).,:;!?—])/gm, '$1$2')
    .replace(/`([^`\n]+)`/g, '$1')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}
