// Model runtime: pack manifests, the onnxruntime session wrapper, face-crop preprocessing.
export * from './pack.js';
export * from './session.js';
export * from './preprocess.js';
export * from './locate.js';
export * from './detect/index.js';
