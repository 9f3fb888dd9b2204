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
export { quantizePack, measureHeldOutAgreement, HELD_OUT_RULE, type QuantizeOptions, type QuantizeResult } from './quantize/quantize-pack.js';
export { measureAgreement, assertAgreementHolds, runBackbone } from './quantize/agreement.js';
export { collectCrops, SHIPPED } from './quantize/crops.js';
export { ensureQuantizeVenv, runConvertScript, CONVERT_SCRIPT, QUANTIZE_VENV_DIR } from './quantize/python-env.js';
export { cpuDescription, vectorExtensions } from './quantize/cpu.js';
