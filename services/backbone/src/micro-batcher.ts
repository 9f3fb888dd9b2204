/**
 * Collects work items from concurrent callers into batches of at most `maxBatch`, waiting at most
 * `maxWaitMs` for a batch to fill: one GPU call then serves faces of many partitions and streams.
 * Each caller gets back its own items' results, in order.
 */
export class MicroBatcher<In, Out> {
  private pending: { items: In[]; resolve: (out: Out[]) => void; reject: (error: unknown) => void }[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: (items: In[]) => Promise<Out[]>,
    private readonly options: { maxBatch: number; maxWaitMs: number },
  ) {}

  /** Adds a caller's items; resolves with their results once their batch ran. */
  submit(items: In[]): Promise<Out[]> {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.pending.push({ items, resolve, reject });
      this.queued += items.length;
      if (this.queued >= this.options.maxBatch || this.options.maxWaitMs === 0) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const callers = this.pending;
    this.pending = [];
    this.queued = 0;
    if (callers.length === 0) return;
    // Callers are never split: a batch may exceed maxBatch by one caller's items, so no caller waits twice.
    void this.runInChunks(callers);
  }

  private async runInChunks(callers: typeof this.pending): Promise<void> {
    const items = callers.flatMap((c) => c.items);
    try {
      // All chunks are started at once: when the model runs in its own thread, the next chunk's tensor is
      // written here while the previous one computes there (the thread runs them one after another).
      const chunks: In[][] = [];
      for (let start = 0; start < items.length; start += this.options.maxBatch)
        chunks.push(items.slice(start, start + this.options.maxBatch));
      const results = (await Promise.all(chunks.map((chunk) => this.run(chunk)))).flat();
      let offset = 0;
      for (const caller of callers) {
        caller.resolve(results.slice(offset, offset + caller.items.length));
        offset += caller.items.length;
      }
    } catch (error) {
      for (const caller of callers) caller.reject(error);
    }
  }
}
