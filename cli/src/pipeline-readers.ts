import { fromBinary } from '@bufbuild/protobuf';
import {
  EmbeddingsSchema,
  EmotionsSchema,
  eventsTopic,
  followTopic,
  topicName,
  topics,
  type Bus,
  type BusConsumer,
  type ConsumedRecord,
  type EmotionEvent,
} from '@emostream/shared';
import { faceEmotionEvents } from '@emostream/sink';
import type { AnnotatedVideo } from './reports/annotated-video.js';
import type { TrackObservations } from './reports/csv.js';

/** What has reached the sink of a stream so far (the emotions topic, read beside the sink). */
export interface StreamProgress {
  lastSeq: number;
  frames: number;
  faces: number;
  /** Every sampled frame, with a face or not: what each observation covers ends at the next. */
  sampledSeqs: number[];
  /** Per sampled frame, its number of face events. */
  facesBySeq: Map<number, number>;
}

/**
 * The topics `emo run` takes its progress and reports from, each read by a consumer group of its own
 * beside the stages (the stages carry no hooks for it): the sink's input (emotions: progress, the
 * end-of-stream markers, the annotated videos' faces), its output (the public events) and the
 * backbone's (embeddings: the offline report's features).
 */
export class PipelineReaders {
  /** Public events per stream, as the events topic carries them. */
  readonly events = new Map<string, EmotionEvent[]>();
  /** What the backbone saw, per stream and track: the offline report is computed from it. */
  readonly observations = new Map<string, Map<number, TrackObservations>>();
  /** Where the sink's input has got to, per stream (progress, pacing, the reports' cut). */
  readonly progress = new Map<string, StreamProgress>();
  /** Where each stream's end-of-stream marker sits on the emotions topic. */
  readonly streamEnds = new Map<string, { partition: number; offset: string }>();
  /** Files' annotated videos, drawn while the pipeline runs: each is told its sampled frames and their faces. */
  readonly videos = new Map<string, AnnotatedVideo>();
  readonly eventsGroup: string;
  readonly embeddingsGroup: string;
  private readonly consumers: BusConsumer[] = [];

  constructor(
    private readonly bus: Bus,
    private readonly prefix: string,
  ) {
    this.eventsGroup = `${prefix}.events-reader`;
    this.embeddingsGroup = `${prefix}.embeddings-reader`;
  }

  async start(): Promise<void> {
    const follow = async (groupId: string, topic: { base: string; version: number }, onRecord: (record: ConsumedRecord) => void) =>
      this.consumers.push(await followTopic(this.bus, { groupId, topic: topicName(topic, this.prefix), fromBeginning: true }, onRecord));
    await follow(`${this.prefix}.progress-reader`, topics.emotions, (record) => this.onEmotions(record));
    await follow(this.eventsGroup, eventsTopic, ({ value }) => {
      const event = JSON.parse(Buffer.from(value!).toString('utf8')) as EmotionEvent;
      const streamEvents = this.events.get(event.streamId) ?? [];
      this.events.set(event.streamId, streamEvents);
      streamEvents.push(event);
    });
    await follow(this.embeddingsGroup, topics.embeddings, ({ key, value }) => this.onEmbeddings(key, value!));
  }

  async close(): Promise<void> {
    for (const consumer of this.consumers) await consumer.close();
  }

  private onEmotions({ key, value, partition, offset }: ConsumedRecord): void {
    const emotions = fromBinary(EmotionsSchema, value!);
    const ref = emotions.ref;
    if (!ref) return;
    if (ref.endOfStream) {
      this.streamEnds.set(key, { partition, offset });
      return;
    }
    // The faces as the sink turns them into events (the annotated video draws their boxes and labels).
    const faces = faceEmotionEvents(emotions, Date.now());
    const seen = this.progress.get(key) ?? { lastSeq: 0, frames: 0, faces: 0, sampledSeqs: [], facesBySeq: new Map<number, number>() };
    seen.sampledSeqs.push(ref.seq);
    seen.facesBySeq.set(ref.seq, faces.length);
    this.progress.set(key, {
      ...seen,
      lastSeq: Math.max(seen.lastSeq, ref.seq),
      frames: seen.frames + 1,
      faces: seen.faces + faces.length,
    });
    this.videos.get(key)?.sampled(ref.seq, faces);
  }

  private onEmbeddings(key: string, value: Uint8Array): void {
    const embeddings = fromBinary(EmbeddingsSchema, value);
    const tracks = this.observations.get(key) ?? new Map<number, TrackObservations>();
    this.observations.set(key, tracks);
    for (const face of embeddings.faces) {
      const track = tracks.get(face.trackId) ?? { trackId: face.trackId, frames: [] };
      tracks.set(face.trackId, track);
      track.frames.push({ frame: embeddings.ref!.seq, features: Float32Array.from(face.features), staticProbs: face.staticProbs });
    }
  }
}
