// Public entry of @emostream/temporal: the pure logic the temporal stage is built from.
export * from './offline-windows.js';
export * from './sliding-window.js';
export * from './static-fallback.js';
export * from './handler.js';
export * from './temporal-model.js';
export * from './config.js';
export * from './stage.js';
