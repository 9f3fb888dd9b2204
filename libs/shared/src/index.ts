// Public entry of @emostream/shared: services and the CLI import only from here.
export * from './errors.js';
export * from './log.js';
export * from './security/redact.js';
export * from './config/load.js';
export * from './config/runtime-config.js';
export * from './contracts/index.js';
export * from './bus/index.js';
export * from './runtime/bus-watch.js';
export * from './runtime/lifecycle.js';
export * from './runtime/metrics.js';
export * from './runtime/ops-server.js';
export * from './runtime/stage.js';
export * from './runtime/per-track.js';
export * from './runtime/dead-letter-privacy.js';
export * from './runtime/process.js';
export * from './telemetry/tracing.js';
export * from './reference/file-sampling.js';
