// Public entry of @emostream/sink: the pure logic the sink stage is built from.
export * from './errors.js';
export * from './events.js';
export * from './track-summaries.js';
export * from './handler.js';
export * from './metrics.js';
export { LiveView, type LiveViewOptions } from './live-view/live-view.js';
export { liveViewFeed } from './live-view/feed.js';
export { StreamViews, type Shown, type ViewFace, type TimelinePoint, type StreamViewsOptions } from './live-view/streams.js';
export * from './config.js';
export * from './stage.js';
