/** A caller of {@link MicroBatcher.submit}: its results fill in as the model calls holding its items end. */
interface Caller<Out> {
  readonly results: Out[];
  remaining: number;
  /** Some of its items are in a call already: the rest are never held back for maxWaitMs. */
  started: boolean;
  failed: boolean;
  readonly arrivedAtMs: number;
  resolve(out: Out[]): void;
  reject(error: unknown): void;
}

/** One queued item and where its result goes. */
interface Queued<In, Out> {
  readonly item: In;
  readonly caller: Caller<Out>;
  readonly index: number;
}

/** Model calls in flight at once: one computing, the next one's batch gathered and handed over meanwhile. */
const MAX_CALLS_IN_FLIGHT = 2;

/**
 * Collects work items from concurrent callers into model calls of at most `maxBatch` items: one GPU
 * call then serves faces of many partitions and streams. Each caller gets back its own items' results,
 * in order.
 *
 * A call starts as soon as the model has room for it (at most two in flight: one computing while the
 * next one's batch is gathered). Items that arrive while the model is busy queue up and go together in
 * the next call. So an idle model adds no wait, and a loaded one batches as deeply as the load makes
 * it. `maxWaitMs` > 0 also holds a call that is not full for up to that long after its oldest item
 * arrived: worth it only where a bigger batch is much cheaper per item (a GPU).
 */
export class MicroBatcher<In, Out> {
  private queue: Queued<In, Out>[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: (items: In[]) => Promise<Out[]>,
    private readonly options: { maxBatch: number; maxWaitMs: number },
  ) {}

  /** Adds a caller's items; resolves with their results once the calls holding them ran. */
  submit(items: In[]): Promise<Out[]> {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const caller: Caller<Out> = {
        results: new Array<Out>(items.length),
        remaining: items.length,
        started: false,
        failed: false,
        arrivedAtMs: performance.now(),
        resolve,
        reject,
      };
      items.forEach((item, index) => this.queue.push({ item, caller, index }));
      this.dispatch();
    });
  }

  /** Starts calls while the model has room and something is queued (and, with maxWaitMs, due). */
  private dispatch(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 && this.inFlight < MAX_CALLS_IN_FLIGHT) {
      const oldest = this.queue[0]!.caller;
      const holdMs = oldest.arrivedAtMs + this.options.maxWaitMs - performance.now();
      if (this.queue.length < this.options.maxBatch && holdMs > 0 && !oldest.started) {
        this.timer = setTimeout(() => this.dispatch(), holdMs);
        return;
      }
      // A caller whose earlier call failed is rejected already: its other items are not worth a model call.
      const call = this.queue.splice(0, this.options.maxBatch).filter((q) => !q.caller.failed);
      if (call.length === 0) continue;
      for (const { caller } of call) caller.started = true;
      this.inFlight += 1;
      void this.runCall(call);
    }
  }

  private async runCall(call: Queued<In, Out>[]): Promise<void> {
    let results: Out[] | undefined;
    let failure: unknown;
    try {
      results = await this.run(call.map((q) => q.item));
      if (results.length !== call.length) throw new Error(`the model returned ${results.length} results for ${call.length} items`);
    } catch (error) {
      failure = error;
    }
    // A failed caller is marked before the next call is picked, so none of its other items is run.
    const rejected = results ? [] : [...new Set(call.map((q) => q.caller))].filter((caller) => !caller.failed);
    for (const caller of rejected) caller.failed = true;
    // The model's next call starts before this call's callers go on.
    this.inFlight -= 1;
    this.dispatch();
    for (const caller of rejected) caller.reject(failure);
    if (!results) return;
    call.forEach(({ caller, index }, i) => {
      if (caller.failed) return;
      caller.results[index] = results[i]!;
      caller.remaining -= 1;
      if (caller.remaining === 0) caller.resolve(caller.results);
    });
  }
}
