import { makeMessage, topics, type HandlerResult, type StageDefinition, type StageInput, type StageOutput } from '@emostream/shared';
import type { TemporalSettings } from './config.js';
import { argmax } from './offline-windows.js';
import { SlidingWindows } from './sliding-window.js';
import { meanProbabilities } from './static-fallback.js';
import { predictWindows, type TemporalModel } from './temporal-model.js';

/** The stage's settings as they are parsed (temporalSettingsSchema: its defaults are the only ones), and its model. */
export interface TemporalStageOptions extends TemporalSettings {
  /** null: the pack has no temporal model; each face then gets the mean of its window's static probabilities. */
  model: TemporalModel | null;
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
  const windows = new SlidingWindows<Float32Array>({
    length: options.model?.windowLength ?? options.windowLength,
    trackTtlMs: options.trackTtlMs,
  });

  return {
    name: 'temporal',
    input: topics.embeddings,
    outputs: [topics.emotions],
    // Records per partition re-read after a restart or rebalance to rebuild the windows.
    replayRecords: options.replayRecords,

    async handleBatch(inputs, context): Promise<HandlerResult[]> {
      const pending: PendingFace[] = [];
      const ended: number[][] = [];
      inputs.forEach((input, index) => {
        const ref = input.value.ref!;
        for (const face of input.value.faces) {
          // Without an LSTM the window holds the static probabilities, whose mean is the fallback.
          const item = Float32Array.from(options.model ? face.features : face.staticProbs);
          pending.push({ input: index, face, window: windows.push({ streamId: input.key, trackId: face.trackId }, item, ref) });
        }
        // Tracks end when the tracker says so, at the end of the stream, or after the TTL here.
        for (const trackId of input.value.endedTrackIds) windows.end({ streamId: input.key, trackId });
        const expired = ref.endOfStream ? windows.endStream(input.key) : windows.expireIdle(input.key, ref.ptsMs);
        ended.push([...new Set([...input.value.endedTrackIds, ...expired])].sort((a, b) => a - b));
      });

      const probabilities = await predict(options.model, pending);
      const outputs: StageOutput[][] = inputs.map(() => []);
      inputs.forEach((input, index) => {
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
        const emotions = makeMessage(topics.emotions, { ref: input.value.ref!, faces, endedTrackIds: ended[index]! });
        outputs[index]!.push(context.emit(topics.emotions, emotions));
      });
      return outputs;
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
