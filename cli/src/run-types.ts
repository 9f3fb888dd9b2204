import type { FaceDropReason } from '@emostream/face';
import type { Bus } from '@emostream/shared';
import type { ImageFaceRow } from './reports/faces-table.js';
import type { StageSettings } from './stage-settings.js';

export interface RunOptions {
  /** Pack of the backbone (and temporal model): a name in the models folder, or a path. */
  pack: string;
  /** Pack whose detectors find the faces (--detector-pack, else FACE_DETECTOR_PACK, else the default). */
  detectorPack: string;
  /** The stages' settings, as `emo serve` reads them; default: read from this environment (stageSettingsFromEnv). */
  stages?: StageSettings;
  modelsDir: string;
  outDir: string;
  /** Run on this Kafka cluster instead of the in-memory bus (same stages, same single process). */
  kafkaBrokers?: string;
  /** Where the models run: cpu, or cuda (falls back to cpu with a warning). */
  device?: 'cpu' | 'cuda';
  /** Sampling rate of live inputs, frames/s (0 = ingest's default); files always use the reference's sampling. */
  liveFps?: number;
  /** Scale wider frames down to this width (0 = ingest's default). */
  maxWidth?: number;
  /** Also write `<name>.features.jsonl`: per track and sampled frame, the backbone's features and static probabilities. */
  features?: boolean;
  /** Also write the reference's CSV per track, `<name>.track<N>.csv`, beside `<name>.csv`. */
  perTrackCsv?: boolean;
  /** Write `<name>.annotated.mp4` (and images' `.annotated.jpg`); default true. */
  video?: boolean;
  /** Draw progress bars and status lines (default: when stderr is a terminal). */
  progress?: boolean;
  /** Aborting it (Ctrl-C) stops reading the inputs; what was read is still processed and reported. */
  signal?: AbortSignal;
  /** After `signal`, how long the frames already read may take before the reports are written anyway (default 10 s). */
  drainGraceMs?: number;
  /** Aborting it (a second Ctrl-C) writes the reports of what is processed now, without waiting for the drain. */
  force?: AbortSignal;
  /** Called once the pipeline runs, with its bus and topic prefix (the live view attaches here); returns its closer. */
  attach?: (bus: Bus, prefix: string) => Promise<() => Promise<void>>;
  /** After the inputs end, keep what is attached (the live view) up until `signal` aborts. */
  holdAfterEnd?: boolean;
  log?: (line: string) => void;
}

export interface InputSummary {
  input: string;
  streamId: string;
  live: boolean;
  /** ended: read to its end; stopped: by Ctrl-C; failed: see error. */
  state: 'ended' | 'stopped' | 'failed';
  sampledFrames: number;
  /** Frames of the video (decoded; live inputs: sampled), the rows of its report. */
  totalFrames: number;
  faces: number;
  /**
   * Faces the detector found in the frames the face stage processed, and those that became no face
   * event, by reason (emostream_face_dropped_total): detected = face events + dropped.
   */
  detectedFaces: number;
  droppedFaces: Partial<Record<FaceDropReason, number>>;
  tracks: number;
  /** Tracks open when the input stopped: `emo run` closed their summary in the events. */
  tracksClosedAtStop?: number[];
  /**
   * Per track, the two clip-level answers, named for what they are: `videoEmotion`, the reference's
   * (mode of the per-window argmax), and `meanEmotion`, the track summary event's (argmax of the mean
   * probabilities of the track's face events). They can differ; the README defines both.
   */
  trackEmotions: { trackId: number; videoEmotion: string; meanEmotion: string | undefined }[];
  /** Image inputs: a row per face for their folder's table of faces. */
  imageFaces?: ImageFaceRow[];
  /** The files written: CSV reports, events, features, the annotated video, and for an image its folder's table of faces. */
  reports: string[];
  seconds: number;
  /**
   * The annotated video's (or image's) share of this input's wall time: `seconds` is the time its
   * writer worked (decoding, drawing, encoding) rather than waiting for the pipeline's frames, `share`
   * that over the input's `seconds`. Absent when no annotated picture was written (--no-video).
   */
  video?: { seconds: number; share: number };
  error?: string;
}
