export * from './config.js';
export * from './ffmpeg-frames.js';
export * from './metrics.js';
export * from './sources.js';
export * from './stream-runner.js';
export * from './worker.js';
//# sourceMappingURL=index.js.map