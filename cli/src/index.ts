export * from './streams.js';
export * from './inputs.js';
export * from './run.js';
export * from './report.js';
export * from './demo-clip.js';
export * from './settings-reference.js';
