// Public entry of @emostream/shared: services and the CLI import only from here.
export * from './models/index.js';
