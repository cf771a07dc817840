import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/engine/batch.js';

describe('Batcher', () => {
  it('sends the calls of one turn as one batch, each caller getting its own answer', async () => {
    const sent: number[][] = [];
    const batcher = new Batcher<number, number>(async (inputs) => {
      sent.push(inputs);
      return inputs.map((n) => n * 10);
    });
    const first = await Promise.all([batcher.call(1), batcher.call(2), batcher.call(3)]);
    const second = await batcher.call(4);
    expect(first).toEqual([10, 20, 30]);
    expect(second).toBe(40);
    expect(sent).toEqual([[1, 2, 3], [4]]);
  });

  it('gathers calls made after awaits that resolved together (runners woken by one tick)', async () => {
    const sent: string[][] = [];
    const batcher = new Batcher<string, string>(async (inputs) => {
      sent.push(inputs);
      return inputs;
    });
    const tick = Promise.resolve();
    const runner = async (name: string) => {
      await tick;
      await Promise.resolve();
      return batcher.call(name);
    };
    await Promise.all(['a', 'b', 'c'].map(runner));
    expect(sent).toEqual([['a', 'b', 'c']]);
  });

  it('fails only the caller whose answer is an error, and every caller when the send fails', async () => {
    let down = false;
    const batcher = new Batcher<number, number>(async (inputs) => {
      if (down) throw new Error('connection lost');
      return inputs.map((n) => (n < 0 ? new Error(`${n} is negative`) : n));
    });
    const results = await Promise.allSettled([batcher.call(1), batcher.call(-1), batcher.call(2)]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      1,
      '-1 is negative',
      2,
    ]);
    down = true;
    const failed = await Promise.allSettled([batcher.call(1), batcher.call(2)]);
    expect(failed.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual([
      'connection lost',
      'connection lost',
    ]);
  });
});
