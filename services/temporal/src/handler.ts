import { makeMessage, StageError, topics, type HandlerResult, type StageDefinition, type StageInput } from '@emostream/shared';
import type { TemporalSettings } from './config.js';
import { argmax } from './offline-windows.js';
import { SlidingWindows } from './sliding-window.js';
import { meanProbabilities } from './static-fallback.js';
import { predictWindows, type TemporalModel } from './temporal-model.js';

/** The stage's settings as they are parsed (temporalSettingsSchema: its defaults are the only ones), and its model. */
export interface TemporalStageOptions extends TemporalSettings {
  /** null: the pack has no temporal model; each face then gets the mean of its window's static probabilities. */
  model: TemporalModel | null;
  /** States kept per stream for frames that come again: the upstream batch size and one (SlidingWindows). */
  historyFrames?: number;
}

type EmbeddingsInput = StageInput<typeof topics.embeddings.schema>;

interface PendingFace {
  input: number;
  face: EmbeddingsInput['value']['faces'][number];
  window: readonly Float32Array[];
}

/**
 * The temporal stage: one window per (stream, track) — the first item fills it, each sampled frame
 * shifts it by one — and the LSTM over every window of a batch in one model call. Tracks end at the
 * end of their stream or after `trackTtlMs` without a sighting; the frame that ends them lists them.
 */
export function temporalStage(options: TemporalStageOptions): StageDefinition<typeof topics.embeddings.schema> {
  const windows = new SlidingWindows<Float32Array>(
    { length: options.model?.windowLength ?? options.windowLength, trackTtlMs: options.trackTtlMs },
    options.historyFrames ? { historyFrames: options.historyFrames } : {},
  );

  return {
    name: 'temporal',
    input: topics.embeddings,
    outputs: [topics.emotions],
    // Records per partition re-read after a restart or rebalance to rebuild the windows.
    replayRecords: options.replayRecords,

    async handleBatch(inputs, context): Promise<HandlerResult[]> {
      const pending: PendingFace[] = [];
      const ended: (number[] | StageError)[] = inputs.map((input, index) => {
        const ref = input.value.ref!;
        const faces = input.value.faces.map((face) => ({
          trackId: face.trackId,
          // Without an LSTM the window holds the static probabilities, whose mean is the fallback.
          item: Float32Array.from(options.model ? face.features : face.staticProbs),
        }));
        try {
          // Tracks end when the tracker says so, at the end of the stream, or after the TTL here.
          const frame = windows.frame({ ...ref, streamId: input.key, faces, endedTrackIds: input.value.endedTrackIds });
          input.value.faces.forEach((face, i) => pending.push({ input: index, face, window: frame.windows[i]! }));
          return frame.ended;
        } catch (error) {
          // A frame repeated from before the kept windows (WINDOW_REWIND_TOO_FAR): its dead letter, never a guess from later windows.
          if (error instanceof StageError) return error;
          throw error;
        }
      });

      const probabilities = await predict(options.model, pending);
      return inputs.map((input, index) => {
        const endedHere = ended[index]!;
        if (endedHere instanceof StageError) return endedHere;
        const faces = pending
          .map((p, i) => ({ p, probs: probabilities[i]! }))
          .filter(({ p }) => p.input === index)
          .map(({ p, probs }) => ({
            trackId: p.face.trackId,
            ...(p.face.box ? { box: p.face.box } : {}),
            score: p.face.score,
            probs: [...probs],
            label: argmax([...probs]),
            staticProbs: p.face.staticProbs,
          }));
        return [context.emit(topics.emotions, makeMessage(topics.emotions, { ref: input.value.ref!, faces, endedTrackIds: endedHere }))];
      });
    },

    // Another replica owns these streams now; it rebuilds their windows from the frames it reads.
    onStreamsRevoked: (streamIds) => windows.dropStreams(streamIds),
  };
}

async function predict(model: TemporalModel | null, pending: PendingFace[]): Promise<Float32Array[]> {
  if (pending.length === 0) return [];
  if (!model) return pending.map((p) => Float32Array.from(meanProbabilities(p.window.map((row) => [...row]))));
  return predictWindows(
    model,
    pending.map((p) => p.window),
  );
}
