// Public entry of @emostream/face: the pure logic the face stage is built from.
export * from './crop.js';
export * from './tracker/index.js';
