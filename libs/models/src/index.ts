// Public entry of @emostream/models: build-time model tooling (graph builder, model builders, importers).
export * from './onnx/builder.js';
export * from './onnx/tf-layout.js';
export { buildDefaultPack, writeDefaultPack, DEFAULT_MODE, SOURCE_VERSIONS } from './default-pack.js';
