export * from './backbone-model.js';
export * from './handler.js';
export * from './metrics.js';
export * from './micro-batcher.js';
export * from './config.js';
export * from './stage.js';
