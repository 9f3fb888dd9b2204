/**
 * The largest record either bus accepts. Kafka's default (message.max.bytes) is about 1 MB, and a
 * 1080p JPEG frame or a batch of raw crops can exceed it, so topics, producers and the test broker
 * are all set to 10 MiB together (README: message sizes).
 */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
