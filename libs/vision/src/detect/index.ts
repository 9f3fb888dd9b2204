// Detector post-processing shared by the face stage and the model tools.
export { squareResize, cropImage, type Placement } from './image.js';
export { nms, iou, overlapOfSmaller, type Detection, type OverlapMetric } from './nms.js';
export { toDetections, blazeFaceAnchors } from './decode.js';
export {
  detectFrame,
  detectTiled,
  mergeDetections,
  mapBox,
  planTiles,
  MERGE_OVERLAP,
  type BoxTransform,
  type DetectorModel,
  type TilingOptions,
} from './detector.js';
export {
  DetectionConfigSchema,
  readDetectionConfig,
  sessionDetector,
  openDetectors,
  modePasses,
  modeDetector,
  openPackFaceDetector,
  MAX_PIXELS_PER_INPUT,
  DEFAULT_MIN_FACE_SIZE,
  type ModePass,
  type PackDetectorOptions,
  DETECTION_FILE,
  type DetectionConfig,
  type PackFaceDetector,
} from './detection-config.js';
export {
  planFaceSize,
  detectAtFaceSize,
  detectWholeAtFaceSize,
  detectWholeAtSide,
  wholeFrameScale,
  MAX_WHOLE_PIXELS,
  scaleFrame,
  resizeFrame,
  type FaceSizeTiling,
  type FaceSizeWhole,
  type WholeFrame,
  type FaceSizePlan,
  type Tile,
} from './face-size.js';
