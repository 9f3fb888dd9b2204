// Detector post-processing shared by the face stage and the model tools.
export { squareResize, cropImage, type Placement } from './image.js';
export { nms, iou, overlapOfSmaller, type Detection, type OverlapMetric } from './nms.js';
export { toDetections, blazeFaceAnchors } from './decode.js';
export {
  detectFrame,
  detectTiled,
  detectFused,
  mergeDetections,
  planTiles,
  MERGE_OVERLAP,
  type DetectorModel,
  type TilingOptions,
} from './detector.js';
export {
  DetectionConfigSchema,
  readDetectionConfig,
  sessionDetector,
  openDetectors,
  modePasses,
  openPackFaceDetector,
  DETECTION_FILE,
  type DetectionConfig,
  type PackFaceDetector,
} from './detection-config.js';
