import type { DescMessage } from '@bufbuild/protobuf';
import { StageError, toStageError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StageMetrics } from './metrics.js';
import type { HandlerContext, HandlerResult, StageDefinition, StageInput } from './stage-definition.js';

/** The longest pause between retries of a batch. */
const MAX_RETRY_BACKOFF_MS = 30_000;

export interface HandlerInvokerOptions<Desc extends DescMessage> {
  definition: StageDefinition<Desc>;
  context: HandlerContext;
  metrics: StageMetrics;
  logger: Logger;
  /** Retries of a retriable failure, and the first pause (doubling each time). */
  maxRetries: number;
  retryBackoffMs: number;
  /** Told of every input before the handler sees it (the runner's stream bookkeeping). */
  noteInputs(inputs: StageInput<Desc>[]): void;
}

/** Calls a stage's `handle` or `handleBatch` and turns what it throws into per-input results or a retry. */
export class HandlerInvoker<Desc extends DescMessage> {
  constructor(private readonly options: HandlerInvokerOptions<Desc>) {}

  /**
   * Runs the handler; a retriable failure is tried again up to `maxRetries` times with a doubling
   * pause, each counted and logged, and then the inputs get that error as their result (they are
   * dead-lettered with its code): a record that always fails cannot hold its partition up. Throws only when
   * the partition is revoked or the stage stops during the pauses.
   */
  async withRetries(inputs: StageInput<Desc>[], isRunning: () => boolean): Promise<HandlerResult[]> {
    const { maxRetries, retryBackoffMs, logger, metrics } = this.options;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.invoke(inputs);
      } catch (error) {
        const failure = toStageError(error);
        if (attempt >= maxRetries) {
          logger.error(
            { code: failure.code, reason: failure.message, attempts: attempt + 1 },
            'retries exhausted: dead-lettering the batch',
          );
          const givenUp = new StageError(failure.code, `gave up after ${attempt + 1} attempts: ${failure.message}`, { cause: failure });
          return inputs.map(() => givenUp);
        }
        metrics.retries.inc({ code: failure.code });
        const delay = Math.min(MAX_RETRY_BACKOFF_MS, retryBackoffMs * 2 ** attempt);
        logger.warn(
          { code: failure.code, reason: failure.message, attempt: attempt + 1, maxRetries, delayMs: delay },
          'retriable failure: retrying the batch',
        );
        for (let waited = 0; waited < delay; waited += 100) {
          if (!isRunning()) throw failure;
          await new Promise((resolve) => setTimeout(resolve, Math.min(100, delay - waited)));
        }
      }
    }
  }

  /** Runs the handler once; returns one result per input. Throws only for a retriable failure. */
  async invoke(inputs: StageInput<Desc>[]): Promise<HandlerResult[]> {
    if (inputs.length === 0) return [];
    this.options.noteInputs(inputs);
    return this.options.definition.handleBatch ? this.invokeBatch(inputs) : this.invokeEach(inputs);
  }

  private async invokeBatch(inputs: StageInput<Desc>[]): Promise<HandlerResult[]> {
    const { definition, context } = this.options;
    let results: HandlerResult[];
    try {
      results = await definition.handleBatch!.call(definition, inputs, context);
    } catch (error) {
      const stageError = toStageError(error);
      if (stageError.retriable) throw stageError;
      return inputs.map(() => stageError);
    }
    if (results.length !== inputs.length) {
      const error = new StageError('HANDLER_CONTRACT', `handleBatch returned ${results.length} results for ${inputs.length} inputs`);
      return inputs.map(() => error);
    }
    return results;
  }

  private async invokeEach(inputs: StageInput<Desc>[]): Promise<HandlerResult[]> {
    const { definition, context } = this.options;
    const results: HandlerResult[] = [];
    for (const input of inputs) {
      try {
        results.push(await definition.handle!.call(definition, input, context));
      } catch (error) {
        const stageError = toStageError(error);
        if (stageError.retriable) throw stageError;
        results.push(stageError);
      }
    }
    return results;
  }
}
