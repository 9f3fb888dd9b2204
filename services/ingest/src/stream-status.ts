import { encodeStreamStatus, streamStatusTopic, topicName, type Bus, type BusProducer, type StreamStatus } from '@emostream/shared';

/** Writes statuses; failures to write are the caller's to log (a status is advisory, streams go on). */
export class StreamStatusWriter {
  private producer: BusProducer | undefined;
  readonly topic: string;

  constructor(
    private readonly bus: Bus,
    topicPrefix: string,
  ) {
    this.topic = topicName(streamStatusTopic, topicPrefix);
  }

  async start(): Promise<void> {
    await this.bus.createTopics([
      { name: this.topic, partitions: streamStatusTopic.defaultPartitions, configEntries: streamStatusTopic.configEntries },
    ]);
    this.producer = await this.bus.producer();
  }

  async write(status: StreamStatus): Promise<void> {
    await this.producer?.send([{ topic: this.topic, key: status.streamId, value: encodeStreamStatus(status) }]);
  }

  async close(): Promise<void> {
    await this.producer?.close();
  }
}
