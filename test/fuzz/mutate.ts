/**
 * Seeded mutations for the fuzz suites: the same seed gives the same cases, and every failure
 * names its seed and case so it can be replayed (`FUZZ_SEED=N npx vitest run test/fuzz`).
 */

export const SEED = Number(process.env.FUZZ_SEED ?? 16);

/** mulberry32: a small deterministic PRNG. */
export function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** A YAML alias bomb: `levels` levels of nine aliases each (9^levels strings if expanded). */
export function aliasBomb(levels: number): string {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < levels; i++)
    lines.push(
      `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  return `${lines.join('\n')}\n`;
}

/** Values that break naive code: extremes, wrong types, huge and deep ones. */
const HOSTILE_VALUES: unknown[] = [
  null,
  -1,
  0,
  1e308,
  -1e308,
  2 ** 53 + 1,
  0.1,
  '',
  'x'.repeat(10_000),
  '-nan',
  [],
  {},
  true,
  { __proto__: { polluted: true } },
  JSON.parse('{"__proto__": {"polluted": true}}'),
  [[[[[[[[[[[]]]]]]]]]]],
];

/** A JSON value with one to three random changes: a value replaced, a key dropped or added. */
export function mutateJson(value: unknown, random: Random): unknown {
  const copy = structuredClone(value);
  const changes = 1 + Math.floor(random() * 3);
  for (let c = 0; c < changes; c++) {
    const containers: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
    const walk = (node: unknown) => {
      if (!node || typeof node !== 'object') return;
      for (const [key, child] of Object.entries(node)) {
        containers.push({
          parent: node as Record<string, unknown>,
          key: Array.isArray(node) ? Number(key) : key,
        });
        walk(child);
      }
    };
    walk(copy);
    if (containers.length === 0) return structuredClone(pick(random, HOSTILE_VALUES));
    const { parent, key } = pick(random, containers);
    const roll = random();
    if (roll < 0.6)
      (parent as Record<string | number, unknown>)[key] = structuredClone(pick(random, HOSTILE_VALUES));
    else if (roll < 0.8 && !Array.isArray(parent)) delete parent[key as string];
    else
      (parent as Record<string | number, unknown>)[Array.isArray(parent) ? parent.length : `x${c}`] = pick(
        random,
        HOSTILE_VALUES,
      );
  }
  return copy;
}

/**
 * A JSON value with one to three of its numbers scaled by 10^1..10^300 (Infinity, once past
 * Number.MAX_VALUE): sizes a real reply could carry by mistake, far more often than `mutateJson`
 * happens to land on a number.
 */
export function inflateNumbers(value: unknown, random: Random): unknown {
  const copy = structuredClone(value);
  const numbers: { parent: Record<string | number, unknown>; key: string | number }[] = [];
  const walk = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    for (const [key, child] of Object.entries(node)) {
      if (typeof child === 'number')
        numbers.push({
          parent: node as Record<string, unknown>,
          key: Array.isArray(node) ? Number(key) : key,
        });
      walk(child);
    }
  };
  walk(copy);
  if (numbers.length === 0) return copy;
  const changes = 1 + Math.floor(random() * 3);
  for (let c = 0; c < changes; c++) {
    const { parent, key } = pick(random, numbers);
    parent[key] = (parent[key] as number) * 10 ** (1 + Math.floor(random() * 300));
  }
  return copy;
}

const HOSTILE_TEXT = [
  '-nan',
  'inf',
  '1e308',
  '-1',
  '\u0000',
  '"',
  '{',
  '}',
  ':',
  '\n',
  '&a',
  '*a',
  '!!binary',
  '\t',
  '#',
  '💥',
  '9'.repeat(400),
];

/** Text with one to four random edits: a character dropped, a hostile token inserted, a line doubled or cut. */
export function mutateText(text: string, random: Random): string {
  let out = text;
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (out.length + 1));
    const roll = random();
    if (roll < 0.3) out = out.slice(0, at) + out.slice(at + 1);
    else if (roll < 0.6) out = out.slice(0, at) + pick(random, HOSTILE_TEXT) + out.slice(at);
    else if (roll < 0.75) {
      const lines = out.split('\n');
      const i = Math.floor(random() * lines.length);
      lines.splice(i, 0, lines[i]!);
      out = lines.join('\n');
    } else if (roll < 0.85) out = out.slice(0, at);
    else {
      // A number somewhere becomes an extreme one.
      out = out.replace(/\b\d+(\.\d+)?\b/, () =>
        pick(random, ['1e308', '-5', '0', '.nan', '.inf', '99999999999999999999']),
      );
    }
  }
  return out;
}

/** Runs `cases` seeded cases; a failure names the seed, the case and its input. */
export async function fuzz<T>(
  name: string,
  cases: number,
  make: (random: Random) => T,
  check: (input: T) => void | Promise<void>,
  show: (input: T) => string = (input) => JSON.stringify(input),
): Promise<void> {
  const random = prng(SEED ^ hash(name));
  for (let i = 0; i < cases; i++) {
    const input = make(random);
    try {
      await check(input);
    } catch (err) {
      throw new Error(
        `fuzz "${name}" seed ${SEED} case ${i}: ${err instanceof Error ? err.message : String(err)}\ninput: ${show(input).slice(0, 600)}`,
        { cause: err },
      );
    }
  }
}

function hash(text: string): number {
  let h = 0;
  for (const c of text) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return h;
}
