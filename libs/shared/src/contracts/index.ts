export * from './gen/emostream/v1/messages_pb.js';
export * from './topics.js';
export * from './events.js';
export * from './labels.js';
export * from './stream-status.js';
