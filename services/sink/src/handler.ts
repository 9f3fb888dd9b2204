import { DEFAULT_REPLAY_RECORDS, encodeJson, FACE_EVENT, topics, type EmotionEvent, type StageDefinition } from '@emostream/shared';
import { faceEmotionEvents } from './events.js';
import type { SinkMetrics } from './metrics.js';
import { TrackSummaries } from './track-summaries.js';

/**
 * The sink stage: each `Emotions` message becomes the public JSON events — one per face, plus a
 * summary for each track that ended — keyed by streamId on the events topic.
 */
export function sinkStage(
  deps: {
    metrics?: SinkMetrics;
    now?: () => number;
    /** States kept per stream for frames that come again: the upstream batch size and one (TrackSummaries). */
    historyFrames?: number;
  } = {},
): StageDefinition<typeof topics.emotions.schema> {
  const now = deps.now ?? Date.now;
  const summaries = new TrackSummaries(deps.historyFrames ? { historyFrames: deps.historyFrames } : {});
  return {
    name: 'sink',
    input: topics.emotions,
    outputs: [topics.events],
    // A track's summary covers all its frames: after a restart, a rebalance or an undelivered batch
    // the runtime re-reads this many records per partition (outputs discarded) to rebuild them.
    replayRecords: DEFAULT_REPLAY_RECORDS,
    handle(input, context) {
      const emittedAtMs = now();
      const faces = faceEmotionEvents(input.value, emittedAtMs);
      const ended = summaries.observe(input.value, emittedAtMs);
      const events: EmotionEvent[] = [...faces, ...ended];
      if (deps.metrics) record(deps.metrics, input.key, faces.length > 0 ? emittedAtMs - input.value.ref!.capturedAtMs : undefined, events);
      return events.map((event) => context.emitRaw(topics.events, event.streamId, encodeJson(topics.events, event)));
    },
    // Another replica now sums up these streams' tracks (from the frames it sees).
    onStreamsRevoked: (streamIds) => summaries.drop(streamIds),
  };
}

function record(metrics: SinkMetrics, stream: string, latencyMs: number | undefined, events: EmotionEvent[]): void {
  if (latencyMs !== undefined) metrics.endToEndSeconds.observe({ stream }, Math.max(0, latencyMs) / 1000);
  for (const event of events) {
    if (event.schema === FACE_EVENT) {
      metrics.events.inc({ stream, type: 'face' });
      metrics.emotions.inc({ stream, label: event.label });
    } else {
      metrics.events.inc({ stream, type: 'track_summary' });
    }
  }
}
