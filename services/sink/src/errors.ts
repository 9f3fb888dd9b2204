import { StageError } from '@emostream/shared';

/**
 * Thrown when an `Emotions` message cannot become public events: no frame header, a face without a
 * box, or probabilities that are not seven numbers in [0, 1]. Not retriable: the same message will
 * fail again, so the runtime dead-letters it with this reason.
 */
export class InvalidEmotionsError extends StageError {
  constructor(message: string) {
    super('INVALID_EMOTIONS', message);
    this.name = 'InvalidEmotionsError';
  }
}
