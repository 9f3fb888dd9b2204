// Public entry of @emostream/face: the pure logic the face stage is built from.
export * from './tracker/index.js';
export * from './handler.js';
export * from './metrics.js';
