import {
  detectFused,
  modePasses,
  openDetectors,
  readDetectionConfig,
  readPack,
  type SessionConfig,
} from '@emostream/shared';
import type { CropSpec, FaceDetector } from './handler.js';

/** The detectors of a pack (its detection.json: one detector, or several fused, optionally tiled). */
export async function packDetector(dir: string, session: Partial<SessionConfig>): Promise<FaceDetector & { release(): Promise<void> }> {
  const config = await readDetectionConfig(dir);
  const models = await openDetectors(dir, config, session);
  const passes = modePasses(config, models);
  return {
    detect: (frame) => detectFused(passes, frame),
    release: async () => {
      await Promise.all([...models.values()].map((m) => (m as { release?: () => Promise<void> }).release?.()));
    },
  };
}

/** The crops the backbone of the pack in `dir` expects. */
export async function packCropSpec(dir: string, encoding: CropSpec['encoding'], jpegQuality: number): Promise<CropSpec> {
  const { manifest } = await readPack(dir);
  const backbone = manifest.models.backbone;
  const resize = backbone.preprocessing.resize;
  if (resize !== 'nearest' && resize !== 'area') throw new Error(`pack ${manifest.name}: face crops are resized with nearest or area, not ${resize}`);
  return { inputSize: backbone.preprocessing.inputSize, resize, box: backbone.crop, encoding, jpegQuality };
}
