import { Counter, type Registry } from 'prom-client';

export class FaceMetrics {
  readonly detections: Counter;
  readonly faces: Counter;

  constructor(registry: Registry) {
    this.detections = new Counter({
      name: 'emostream_face_detections_total',
      help: 'Faces the detector found (above the size and score limits).',
      registers: [registry],
    });
    this.faces = new Counter({
      name: 'emostream_face_crops_total',
      help: 'Tracked faces cropped and sent to the backbone.',
      registers: [registry],
    });
  }
}
