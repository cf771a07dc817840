/**
 * Calls made in the same turn of the event loop, sent as one. A worker steps every evacuation it
 * runs on one tick (evacuation/tick.ts), so their reads of Redis, their samples of the driver and
 * their commits arrive together: each kind goes out as one request (one MGET, one HTTP call, one
 * script) instead of one per evacuation or migration, which is what Redis counts and what costs
 * the worker its CPU. A caller sees its own answer or its own error, as if it had called alone.
 */
export class Batcher<In, Out> {
  private queue: { input: In; resolve: (out: Out) => void; reject: (err: unknown) => void }[] = [];

  /**
   * `send` answers every input, in order: a value, or an Error for that input alone. Its own
   * failure (the connection, say) is every caller's.
   */
  constructor(private readonly send: (inputs: In[]) => Promise<(Out | Error)[]>) {}

  call(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      // setImmediate runs after every promise continuation of this turn: all that woke together.
      if (this.queue.length === 0) setImmediate(() => void this.flush());
      this.queue.push({ input, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    let outs: (Out | Error)[];
    try {
      outs = await this.send(batch.map((b) => b.input));
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    batch.forEach((b, i) => {
      const out = outs[i];
      if (out instanceof Error) b.reject(out);
      else b.resolve(out as Out);
    });
  }
}
