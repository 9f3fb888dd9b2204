/**
 * A stage's lifecycle: INITIALIZING → RUNNING → DRAINING → STOPPED, or FAILED from any state.
 * /readyz is 200 only while RUNNING; /healthz is 200 unless FAILED.
 */
export type StageState = 'INITIALIZING' | 'RUNNING' | 'DRAINING' | 'STOPPED' | 'FAILED';

const allowed: Record<StageState, StageState[]> = {
  INITIALIZING: ['RUNNING', 'DRAINING', 'FAILED'],
  RUNNING: ['DRAINING', 'FAILED'],
  DRAINING: ['STOPPED', 'FAILED'],
  STOPPED: [],
  FAILED: [],
};

export class Lifecycle {
  private current: StageState = 'INITIALIZING';
  private readonly listeners: ((state: StageState) => void)[] = [];

  get state(): StageState {
    return this.current;
  }

  get ready(): boolean {
    return this.current === 'RUNNING';
  }

  get healthy(): boolean {
    return this.current !== 'FAILED';
  }

  /** Moves to `next` if the machine allows it; returns whether it moved (so repeated shutdowns are no-ops). */
  moveTo(next: StageState): boolean {
    if (!allowed[this.current].includes(next)) return false;
    this.current = next;
    for (const listener of this.listeners) listener(next);
    return true;
  }

  onChange(listener: (state: StageState) => void): void {
    this.listeners.push(listener);
  }
}
