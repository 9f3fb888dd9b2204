/**
 * Wakes every waiter when something changed. Waiters re-check their condition after waking, so a
 * notification never needs to say what changed; checking and waiting happen in one synchronous step,
 * so none is missed.
 */
export class Notifier {
  private wake!: () => void;
  private next: Promise<void> = this.arm();

  private arm(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  notify(): void {
    const wake = this.wake;
    this.next = this.arm();
    wake();
  }

  /** Resolves on the next notify(), or after timeoutMs (so a waiter also re-checks periodically). */
  wait(timeoutMs = 1_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    return Promise.race([this.next, timeout]).finally(() => clearTimeout(timer));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
