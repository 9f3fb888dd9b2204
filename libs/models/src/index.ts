// Public entry of @emostream/models: build-time model tooling (graph builder, model builders, importers).
export * from './onnx/builder.js';
export * from './onnx/tf-layout.js';
export * from './emo-affectnet/backbone.js';
export * from './emo-affectnet/temporal.js';
export * from './emo-affectnet/weights.js';
export * from './emo-affectnet/keras-h5.js';
export * from './emo-affectnet/pack-writer.js';
export * from './emo-affectnet/import.js';
export * from './synthetic.js';
export * from './user-onnx.js';
export { runModelsCli, type CliIo } from './cli.js';
export { buildDefaultPack, writeDefaultPack, DEFAULT_MODE, SOURCE_VERSIONS } from './default-pack.js';
