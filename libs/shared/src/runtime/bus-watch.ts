import { Gauge, type Registry } from 'prom-client';
import type { Bus } from '../bus/types.js';
import { StageError, toStageError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Lifecycle } from './lifecycle.js';
import { metricPrefix } from './metrics.js';
import type { HealthSource } from './ops-server.js';

/**
 * Watches whether the bus answers. Consumers poll all the time; when the clients have been quiet
 * for half the threshold (a consumer waiting to restart after the broker came back, an idle
 * producer) it asks a broker itself. No answer from any broker for `thresholdMs` means the bus is away: the process then reports unready (it is a HealthSource), sets
 * `emostream_<stage>_bus_reachable` to 0 and logs one warning; all of it recovers by itself once a
 * broker answers again. Meanwhile the clients keep retrying: an outage is ridden out, never fatal.
 */
export class BusWatch {
  private readonly gauge: Gauge;
  private timer: NodeJS.Timeout | undefined;
  private unreachableSince: number | undefined;
  private readonly listeners: (() => void)[] = [];
  private pinging = false;

  constructor(
    private readonly bus: Pick<Bus, 'lastContactMs' | 'ping' | 'kind'>,
    private readonly options: { stage: string; registry: Registry; thresholdMs: number; logger: Logger },
  ) {
    this.gauge = new Gauge({
      name: `${metricPrefix(options.stage)}_bus_reachable`,
      help: `0 while no broker has answered the ${options.stage} stage for EMOSTREAM_BUS_UNREACHABLE_MS (it is then unready and keeps retrying), else 1.`,
      registers: [options.registry],
    });
    this.gauge.set(1);
  }

  get reachable(): boolean {
    return this.unreachableSince === undefined;
  }

  /** Called whenever reachability changes. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    if (this.timer || this.bus.kind === 'memory') return;
    this.timer = setInterval(() => this.check(), Math.min(1_000, this.options.thresholdMs / 4));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const silentMs = Date.now() - this.bus.lastContactMs();
    if (silentMs >= this.options.thresholdMs / 2 && !this.pinging) {
      this.pinging = true;
      // An answer updates lastContactMs; a failure is what this watch is for, not an error.
      void this.bus
        .ping()
        .catch(() => {})
        .finally(() => (this.pinging = false));
    }
    if (silentMs >= this.options.thresholdMs && this.reachable) {
      this.unreachableSince = this.bus.lastContactMs();
      this.gauge.set(0);
      this.options.logger.warn(
        { silentMs, thresholdMs: this.options.thresholdMs },
        'the bus is unreachable: unready until a broker answers again (still retrying)',
      );
      for (const listener of this.listeners) listener();
    } else if (silentMs < this.options.thresholdMs && !this.reachable) {
      const downMs = Date.now() - this.unreachableSince!;
      this.unreachableSince = undefined;
      this.gauge.set(1);
      this.options.logger.info({ downMs }, 'the bus is reachable again');
      for (const listener of this.listeners) listener();
    }
  }
}

/**
 * Runs a start-up step (creating topics, connecting, joining a group) until it succeeds while it
 * fails with a retriable error — the broker is down, the group coordinator is loading, a topic is
 * still being created — with a growing pause. One warning says what it waits for; a non-retriable
 * error, or `stopped()`, ends the wait by throwing.
 */
export async function untilBusAnswers<T>(
  what: string,
  work: () => Promise<T>,
  options: { logger: Logger; stopped: () => boolean },
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const failure = toStageError(error);
      if (!failure.retriable) throw failure;
      if (options.stopped()) throw new StageError('STOPPED', `stopped while ${what}`, { cause: error });
      const log = attempt === 1 ? options.logger.warn.bind(options.logger) : options.logger.debug.bind(options.logger);
      log({ attempt, reason: failure.message }, `${what}: waiting for the bus`);
      const delay = Math.min(10_000, 500 * 2 ** Math.min(attempt - 1, 5));
      for (let waited = 0; waited < delay && !options.stopped(); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * A process's probes: healthy as its lifecycle says; ready only while the lifecycle is and the bus
 * answers (unready, not unhealthy, through an outage: restarting would not bring the broker back).
 * `onChange` hears both.
 */
export function healthWithBus(lifecycle: Lifecycle, busWatch: BusWatch): HealthSource & { onChange(listener: () => void): void } {
  return {
    get ready() {
      return lifecycle.ready && busWatch.reachable;
    },
    get healthy() {
      return lifecycle.healthy;
    },
    get state() {
      return busWatch.reachable ? lifecycle.state : `${lifecycle.state} (bus unreachable)`;
    },
    onChange(listener) {
      lifecycle.onChange(listener);
      busWatch.onChange(listener);
    },
  };
}
