export * from './streams.js';
export * from './run.js';
