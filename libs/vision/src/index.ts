// Public entry of @emostream/vision: the model runtime — pack manifests, the onnxruntime session wrapper (worker threads), face-crop preprocessing, face detection.
export * from './pack.js';
export * from './session.js';
export * from './preprocess.js';
export * from './locate.js';
export * from './detect/index.js';
export * from './image-decode.js';
export * from './byte-input.js';
export * from './scene-cut.js';
export * from './identity.js';
