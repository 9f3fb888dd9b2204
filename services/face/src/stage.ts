import { topics, type StageDefinition } from '@emostream/shared';
import { openPackFaceDetector, openPackIdentity, resolvePackDir, sessionOptionsOf, type SessionConfig } from '@emostream/vision';
import type { Registry } from 'prom-client';
import type { FaceConfig } from './config.js';
import { FACE_STAGE_NAME, faceStage, type FrameFaceAccount } from './handler.js';
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
  const opening = [
    openPackFaceDetector(detectorPack, session, { minFaceSize: face.minFaceSize, sessions: face.detectorSessions }),
    openPackIdentity(detectorPack, session),
    packCropSpec(resolvePackDir(model.pack, model.modelsDir), face.cropEncoding, face.jpegQuality),
  ] as const;
  const [detector, identity, crops] = await Promise.all(opening).catch(async (error: unknown) => {
    // What did open is closed again: a failed start leaves no model threads behind.
    await Promise.all([opening[0].then((d) => d.release()), opening[1].then((i) => i?.release())].map((p) => p.catch(() => undefined)));
    throw error;
  });
  const stage = faceStage({
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
  return {
    ...stage,
    async close() {
      await Promise.all([detector.release(), identity?.release()]);
    },
  };
}

/**
 * The face stage as `emo run` starts it: at once, its models still loading. It subscribes now, so the
 * inputs start meanwhile (ffmpeg's start-up and first frames, ~0.35 s, overlap the models' loading:
 * issue 29), and its first batch waits for them. `ready` rejects, naming why, when they cannot load.
 * No tracker state is kept (one process): there is nothing to restore on assignment.
 */
export function startStage(
  config: Pick<FaceConfig, 'model' | 'face' | 'tracker' | 'runtime'>,
  deps: Omit<FaceStageDeps, 'trackerState'>,
): { stage: StageDefinition<typeof topics.frames.schema>; ready: Promise<void> } {
  const building = buildStage(config, deps);
  const ready = building.then(() => undefined);
  ready.catch(() => undefined); // the caller awaits it; a batch meanwhile fails with the same error
  return {
    ready,
    stage: {
      name: FACE_STAGE_NAME,
      input: topics.frames,
      outputs: [topics.faces],
      handleBatch: async (inputs, context) => (await building).handleBatch!(inputs, context),
      onStreamsRevoked: async (streamIds) => (await building).onStreamsRevoked?.(streamIds),
      close: async () => (await building.catch(() => undefined))?.close?.(),
    },
  };
}
