import type { Bus, BusConsumer, BusProducer, OutgoingRecord, TopicPartition, TopicPartitionOffset } from '../bus/types.js';
import type { Logger } from '../log.js';
import { partitionKey } from './partition-state.js';
import type { UntilAnswered } from './stage-definition.js';

/**
 * How a stage's batches reach the bus: their outputs (and dead letters) sent and their inputs'
 * offsets committed, so that a crash repeats a batch (at-least-once) or neither half of it is seen
 * without the other (exactly-once). The runner calls these around each batch.
 */
export interface Delivery {
  /** Opens what every partition shares; before the consumer exists. */
  open(): Promise<void>;
  /** Partitions newly assigned to this replica, before anything of them is read. */
  assigned(partitions: TopicPartition[]): Promise<void>;
  /** Before a batch is handled. True when it moved the partition's read position: the batch is then not handled. */
  beforeBatch(tp: TopicPartition, firstOffset: string): Promise<boolean>;
  /** A batch of the partition was not delivered: settles what the bus made of it before the partition's state is rebuilt. */
  settle(tp: TopicPartition): Promise<void>;
  /** The partition's state was rebuilt without a replay. True when it moved the read position past what was delivered. */
  afterRewind(tp: TopicPartition, firstOffset: string): Promise<boolean>;
  /** Sends the records and acknowledges the inputs up to `offsets`. */
  deliver(records: OutgoingRecord[], offsets: TopicPartitionOffset[]): Promise<void>;
  /** Another replica took the partition (this one was fenced): what this one held for it is dropped. */
  fenced(tp: TopicPartition): Promise<void>;
  /** After the consumer closed. */
  close(): Promise<void>;
}

export interface DeliveryOptions {
  bus: Bus;
  /** The stage's consumer, once it exists (deliveries commit and seek through it). */
  consumer: () => BusConsumer;
  groupId: string;
  logger: Logger;
  untilAnswered: UntilAnswered;
}

/** At-least-once: one producer; the batch's records are sent and acknowledged, then the inputs' offsets committed. */
export class AtLeastOnce implements Delivery {
  #producer: BusProducer | undefined;

  constructor(private readonly options: DeliveryOptions) {}

  async open(): Promise<void> {
    this.#producer = await this.options.untilAnswered('connecting the producer', () => this.options.bus.producer());
  }

  /** Nothing per partition: one producer serves them all. */
  async assigned(_partitions: TopicPartition[]): Promise<void> {}

  beforeBatch(_tp: TopicPartition, _firstOffset: string): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** A plain send has nothing left open to settle. */
  async settle(_tp: TopicPartition): Promise<void> {}

  /** The batch is redelivered from the committed offset as it is: nothing to skip. */
  afterRewind(_tp: TopicPartition, _firstOffset: string): Promise<boolean> {
    return Promise.resolve(false);
  }

  async deliver(records: OutgoingRecord[], offsets: TopicPartitionOffset[]): Promise<void> {
    await this.#producer!.send(records);
    await this.options.consumer().commit(offsets);
  }

  /** Without transactional ids there is no fencing. */
  async fenced(_tp: TopicPartition): Promise<void> {}

  async close(): Promise<void> {
    await this.#producer?.close();
  }
}

/**
 * Exactly-once: the batch's records and its inputs' offsets in one transaction, through a producer
 * per input partition whose transactional id belongs to that partition. The replica given a
 * partition initialises its id before reading anything of it, which finishes what the last owner
 * left (commit or abort) and fences that owner: should it still run (it lost the partition while it
 * held a batch), its late transaction is refused instead of writing the batch a second time
 * (test/zombie.test.ts). Each partition's producer holds its own transaction, so partitions can be
 * handled side by side.
 */
export class ExactlyOnce implements Delivery {
  readonly #producers = new Map<string, BusProducer>();
  /** Newly assigned partitions whose first batch is checked against the committed offset. */
  readonly #checkCommitted = new Set<string>();

  constructor(
    private readonly options: DeliveryOptions & {
      /** The transactional id of a partition's producer: the same on every replica. */
      transactionalId: (tp: TopicPartition) => string;
      /** The stage replays records on assignment (its replay starts from the committed offset anyway). */
      replays: boolean;
    },
  ) {}

  async open(): Promise<void> {}

  /** Opens a producer with each partition's own transactional id; a partition that comes back gets a fresh one. */
  async assigned(partitions: TopicPartition[]): Promise<void> {
    const { bus, logger, untilAnswered } = this.options;
    // In parallel: each is a connection and an InitProducerId, and a replica may be given many partitions.
    await Promise.all(
      partitions.map(async (tp) => {
        const key = partitionKey(tp);
        const previous = this.#producers.get(key);
        this.#producers.delete(key);
        await previous?.close().catch((error: unknown) => logger.debug({ err: error }, 'closing a partition producer failed'));
        const transactionalId = this.options.transactionalId(tp);
        const producer = await untilAnswered('connecting the partition producer', () => bus.producer({ transactionalId }));
        this.#producers.set(key, producer);
        await untilAnswered('finishing the transaction the partition was left with', () => producer.settle());
        // kafkajs read the committed offset when it joined, perhaps before that transaction was finished.
        if (!this.options.replays) this.#checkCommitted.add(key);
      }),
    );
  }

  /**
   * A partition without its producer (this replica was fenced on it, and kafkajs still hands it
   * over) takes its transactional id again, which finishes whatever its other owner left, and goes
   * on from the committed offset.
   */
  async beforeBatch(tp: TopicPartition, firstOffset: string): Promise<boolean> {
    const key = partitionKey(tp);
    if (!this.#producers.has(key)) await this.assigned([tp]);
    return this.#checkCommitted.delete(key) && (await this.skipCommitted(tp, firstOffset));
  }

  /**
   * "Undelivered" may be wrong: the broker may have taken the commit and gone away before answering.
   * It finishes that transaction when it is back, possibly after the consumer has re-read the
   * committed offsets (kafkajs cannot ask for stable ones, KIP-447), so the batch may already be
   * written. Settling the transactional id makes the broker finish it first. Found by
   * test/faults/broker-outage.test.ts.
   */
  async settle(tp: TopicPartition): Promise<void> {
    const producer = this.#producers.get(partitionKey(tp));
    if (producer) await this.options.untilAnswered('finishing the failed transaction', () => producer.settle());
  }

  afterRewind(tp: TopicPartition, firstOffset: string): Promise<boolean> {
    return this.skipCommitted(tp, firstOffset);
  }

  async deliver(records: OutgoingRecord[], offsets: TopicPartitionOffset[]): Promise<void> {
    // beforeBatch took the partition's transactional id before the batch was handled.
    const producer = this.#producers.get(partitionKey(offsets[0]!))!;
    await producer.sendInTransaction(records, { groupId: this.options.groupId, offsets });
  }

  async fenced(tp: TopicPartition): Promise<void> {
    const key = partitionKey(tp);
    const fenced = this.#producers.get(key);
    this.#producers.delete(key);
    await fenced?.close().catch((error: unknown) => this.options.logger.debug({ err: error }, 'closing a fenced producer failed'));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#producers.values()].map((p) => p.close()));
  }

  /** Seeks past what the committed offset shows was delivered already; true when it moved the read position. */
  private async skipCommitted(tp: TopicPartition, firstOffset: string): Promise<boolean> {
    const { bus, groupId, logger, untilAnswered } = this.options;
    const committed = (await untilAnswered('reading the committed offset', () => bus.committedOffsets(groupId, tp.topic))).find(
      (c) => c.partition === tp.partition,
    );
    if (!committed || BigInt(committed.offset) <= BigInt(firstOffset)) return false;
    logger.info({ partition: tp.partition, from: committed.offset }, 'these records were delivered already: going on after them');
    this.options.consumer().seek({ topic: tp.topic, partition: tp.partition, offset: committed.offset });
    return true;
  }
}
