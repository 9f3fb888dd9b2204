// Public entry of @emostream/sink: the pure logic the sink stage is built from.
export * from './errors.js';
export * from './events.js';
export * from './track-summaries.js';
export * from './handler.js';
export * from './metrics.js';
