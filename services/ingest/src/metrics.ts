import { Counter, Gauge, type Registry } from 'prom-client';

/** Ingest's metrics: per stream, so an operator sees which camera is in trouble. */
export class IngestMetrics {
  readonly frames: Counter<'stream'>;
  readonly reconnects: Counter<'stream'>;
  readonly errors: Counter<'stream' | 'reason'>;
  readonly running: Gauge;
  readonly ready: Gauge;
  readonly refused: Counter<'reason'>;
  readonly publishRetries: Counter<'code'>;
  readonly finishedSkipped: Counter<'stream'>;
  readonly framesDropped: Counter<'stream' | 'reason'>;

  constructor(registry: Registry) {
    this.frames = new Counter({
      name: 'emostream_ingest_frames_total',
      help: 'Sampled frames published, per stream.',
      labelNames: ['stream'],
      registers: [registry],
    });
    this.reconnects = new Counter({
      name: 'emostream_ingest_reconnects_total',
      help: 'Reconnect attempts of live sources after a failure or disconnect, per stream.',
      labelNames: ['stream'],
      registers: [registry],
    });
    this.errors = new Counter({
      name: 'emostream_ingest_stream_errors_total',
      help: 'Stream failures by reason (SOURCE_NOT_FOUND, SOURCE_UNREADABLE, SOURCE_BROKEN, SOURCE_FAILED, SOURCE_TRUNCATED, …), per stream.',
      labelNames: ['stream', 'reason'],
      registers: [registry],
    });
    this.running = new Gauge({
      name: 'emostream_ingest_streams_running',
      help: 'Streams this worker is reading now.',
      registers: [registry],
    });
    // No stream label: refused specs are whatever a topic writer sends; their count must not grow the series.
    this.refused = new Counter({
      name: 'emostream_ingest_streams_refused_total',
      help: 'Stream specs refused by the source policy or the stream cap, by reason (ADDRESS_NOT_ALLOWED, FILE_OUTSIDE_MEDIA_ROOTS, CAPACITY, …); never fetched.',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.publishRetries = new Counter({
      name: 'emostream_ingest_retries_total',
      help: 'Frame publications tried again after a retriable bus error, by error code (the bus away): a steady rate is an outage or a retry loop.',
      labelNames: ['code'],
      registers: [registry],
    });
    this.finishedSkipped = new Counter({
      name: 'emostream_ingest_finished_streams_skipped_total',
      help: 'File streams not read again because their progress says they were finished (by this or another replica), per stream.',
      labelNames: ['stream'],
      registers: [registry],
    });
    this.framesDropped = new Counter({
      name: 'emostream_ingest_frames_dropped_total',
      help: "Frames not published because they were too large, per stream: reason too_large (over INGEST_MAX_FRAME_BYTES) or refused_by_broker (over the topic's max.message.bytes). Only that frame is lost.",
      labelNames: ['stream', 'reason'],
      registers: [registry],
    });
    this.ready = new Gauge({
      name: 'emostream_ingest_ready',
      help: "1 while ingest is RUNNING (what /readyz reports), else 0; like the runtime's emostream_<stage>_ready.",
      registers: [registry],
    });
  }
}
