import type { StageDefinition, topics } from '@emostream/shared';
import { openPackFaceDetector, openPackIdentity, resolvePackDir, sessionOptionsOf, type SessionConfig } from '@emostream/vision';
import type { Registry } from 'prom-client';
import type { FaceConfig } from './config.js';
import { faceStage, type FrameFaceAccount } from './handler.js';
import { FaceMetrics } from './metrics.js';
import { packCropSpec } from './pack-detector.js';
import type { TrackerStateStore } from './tracker-state.js';

/** What the face stage is given rather than reading it from its config. */
export interface FaceStageDeps {
  /** Where its metrics go. */
  registry: Registry;
  /** The detectors' session options (default: the config's model settings, as the service runs them). */
  session?: Partial<SessionConfig>;
  /** Keeps tracks across restarts and rebalances (the service's changelog); unset in one process (emo run). */
  trackerState?: TrackerStateStore;
  /** Told, per frame with detections, what became of each detected face (`emo run`'s summary). */
  onFaceAccount?: (streamId: string, account: FrameFaceAccount) => void;
}

/**
 * The face stage as the service and `emo run` both run it: the detector pack's detectors and the
 * backbone pack's crop geometry opened from the config, the tracker and limits from their sections.
 */
export async function buildStage(
  config: Pick<FaceConfig, 'model' | 'face' | 'tracker' | 'runtime'>,
  deps: FaceStageDeps,
): Promise<StageDefinition<typeof topics.frames.schema>> {
  const { model, face, runtime } = config;
  const detectorPack = resolvePackDir(face.detectorPack, model.modelsDir);
  const session = deps.session ?? sessionOptionsOf(model);
  // Opened side by side: each model loads on its own thread, so start-up waits for the slowest, not
  // the sum. The detector pack's identity model, where it has one (the default pack does), is the
  // tracker's descriptor for faces it could confuse; a pack without one tracks on the cheap one alone.
  const [detector, identity, crops] = await Promise.all([
    openPackFaceDetector(detectorPack, session, { minFaceSize: face.minFaceSize }),
    openPackIdentity(detectorPack, session),
    packCropSpec(resolvePackDir(model.pack, model.modelsDir), face.cropEncoding, face.jpegQuality),
  ]);
  return faceStage({
    detector,
    ...(identity ? { identity } : {}),
    crops,
    tracker: config.tracker,
    minFaceSize: face.minFaceSize,
    maxFramePixels: face.maxPixels,
    metrics: new FaceMetrics(deps.registry),
    // A redelivered batch restarts from the state before its first frame.
    historyFrames: runtime.maxBatchSize + 1,
    ...(deps.trackerState ? { trackerState: deps.trackerState } : {}),
    ...(deps.onFaceAccount ? { onFaceAccount: deps.onFaceAccount } : {}),
  });
}
