export * from './assignment.js';
export * from './box.js';
export * from './config.js';
export * from './face-tracker.js';
export * from './stream-trackers.js';
export * from './appearance.js';
export * from './mot-metrics.js';
