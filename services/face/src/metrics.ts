import { Counter, type Registry } from 'prom-client';

/**
 * Why a detected face became no face event. Every face the detector returns is either cropped and
 * passed on or counted under one of these (emostream_face_dropped_total{reason}).
 */
export const FACE_DROP_REASONS = {
  /** Narrower than FACE_MIN_SIZE (source pixels). */
  min_size: 'narrower than FACE_MIN_SIZE',
  /**
   * Scored at or below FACE_TRACK_HIGH_THRESHOLD and extended no track seen in the previous frame:
   * only high detections start tracks.
   */
  low_score: 'scored at or below FACE_TRACK_HIGH_THRESHOLD and extended no track',
  /** On a track still tentative (fewer than FACE_TRACK_MIN_HITS consecutive matches): not passed on until confirmed. */
  unconfirmed_track: 'on a track not yet confirmed (FACE_TRACK_MIN_HITS)',
} as const;
export type FaceDropReason = keyof typeof FACE_DROP_REASONS;

export class FaceMetrics {
  readonly detections: Counter;
  readonly faces: Counter;
  readonly dropped: Counter<'reason'>;
  readonly identityDescriptors: Counter;

  constructor(registry: Registry) {
    this.detections = new Counter({
      name: 'emostream_face_detections_total',
      help: 'Faces the detector found (every box it returned): each is either a crop or a drop.',
      registers: [registry],
    });
    this.faces = new Counter({
      name: 'emostream_face_crops_total',
      help: 'Tracked faces cropped and sent to the backbone.',
      registers: [registry],
    });
    this.dropped = new Counter({
      name: 'emostream_face_dropped_total',
      help: `Detected faces not passed on, by reason: ${Object.entries(FACE_DROP_REASONS)
        .map(([reason, meaning]) => `${reason} (${meaning})`)
        .join(', ')}.`,
      labelNames: ['reason'],
      registers: [registry],
    });
    this.identityDescriptors = new Counter({
      name: 'emostream_face_identity_descriptors_total',
      help: "Faces given an identity descriptor (the pack's face recognition net): only those the tracker could confuse.",
      registers: [registry],
    });
    // Every reason is exported from the start (at 0): a dashboard sees the series before the first drop.
    for (const reason of Object.keys(FACE_DROP_REASONS)) this.dropped.inc({ reason }, 0);
  }
}
