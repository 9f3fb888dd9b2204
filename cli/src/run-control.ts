import type { RunOptions } from './run-types.js';

/** A counting semaphore: at most `size` holders at once. */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    };
  }
}

/** Waits for `work`, or only until `signal` aborts (then `work` goes on unwatched). */
export function unlessAborted(work: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const stop = () => resolve();
    signal.addEventListener('abort', stop, { once: true });
    work.then(
      () => (signal.removeEventListener('abort', stop), resolve()),
      (error: unknown) => (signal.removeEventListener('abort', stop), reject(error)),
    );
  });
}

/** Aborts when the drain after Ctrl-C is over: the grace period has passed since it, or Ctrl-C came again. */
export function drainDeadline(options: Pick<RunOptions, 'force' | 'signal' | 'drainGraceMs'>): AbortController {
  const over = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const end = () => {
    clearTimeout(timer);
    over.abort();
  };
  options.force?.addEventListener('abort', end, { once: true });
  options.signal?.addEventListener('abort', () => (timer = setTimeout(end, options.drainGraceMs ?? 10_000)), { once: true });
  over.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return over;
}

/** Waits until `done()` holds, checking every `stepMs`, for at most `limitMs`; true when it held. */
export async function waitUntil(done: () => boolean, limitMs: number, stepMs = 20): Promise<boolean> {
  for (let waited = 0; waited < limitMs; waited += stepMs) {
    if (done()) return true;
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
  return done();
}
