import { Counter, Histogram, type Registry } from 'prom-client';

/** What operators and analysts watch per stream: event rate, end-to-end latency, and which emotions are seen. */
export class SinkMetrics {
  readonly events: Counter<'stream' | 'type'>;
  readonly endToEndSeconds: Histogram<'stream'>;
  readonly emotions: Counter<'stream' | 'label'>;

  constructor(registry: Registry) {
    this.events = new Counter({
      name: 'emostream_sink_events_total',
      help: 'Public events written, per stream and type (face, track_summary).',
      labelNames: ['stream', 'type'],
      registers: [registry],
    });
    this.endToEndSeconds = new Histogram({
      name: 'emostream_sink_end_to_end_seconds',
      help: "Time from a frame's capture to its face events, per stream.",
      labelNames: ['stream'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    });
    this.emotions = new Counter({
      name: 'emostream_sink_emotions_total',
      help: 'Face events per label (the dominant emotion of each face in each sampled frame), per stream.',
      labelNames: ['stream', 'label'],
      registers: [registry],
    });
  }
}
