import { Counter, Histogram, type Registry } from 'prom-client';

export class BackboneMetrics {
  readonly faces: Counter;
  readonly batchFaces: Histogram;
  readonly inferenceSeconds: Histogram;
  readonly framesSkipped: Counter<'reason'>;

  constructor(registry: Registry) {
    this.faces = new Counter({ name: 'emostream_backbone_faces_total', help: 'Faces embedded by the backbone.', registers: [registry] });
    this.batchFaces = new Histogram({
      name: 'emostream_backbone_inference_batch_faces',
      help: 'Faces per model call (micro-batches across partitions and streams).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers: [registry],
    });
    this.inferenceSeconds = new Histogram({
      name: 'emostream_backbone_inference_seconds',
      help: 'Time of one backbone model call.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.framesSkipped = new Counter({
      name: 'emostream_backbone_frames_skipped_total',
      help: 'Frames not processed, by reason (stale: older than the freshness limit when they arrived).',
      labelNames: ['reason'],
      registers: [registry],
    });
  }
}
