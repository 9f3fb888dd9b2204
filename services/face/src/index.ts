// Public entry of @emostream/face: the pure logic the face stage is built from.
export * from './tracker/index.js';
export * from './handler.js';
export * from './metrics.js';
export * from './config.js';
export * from './pack-detector.js';
export * from './tracker-state.js';
export * from './frame-limits.js';
export * from './stage.js';
