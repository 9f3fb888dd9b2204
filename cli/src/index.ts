export * from './streams.js';
export * from './inputs.js';
export * from './run.js';
export * from './reports/csv.js';
export { writeImageFaces, type ImageFaceRow } from './reports/faces-table.js';
export * from './demo-clip.js';
export * from './settings-reference.js';
