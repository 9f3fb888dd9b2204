/**
 * The one interface the stage runtime talks to. Two implementations pass the same contract tests
 * (libs/shared/test/bus-contract.ts): KafkaBus (kafkajs, for services and production) and
 * InMemoryBus (one process, no broker, for `emo run`).
 *
 * Semantics both keep:
 * - a topic has partitions; a record's partition is a hash of its key, so one key stays in order;
 * - consumers join a group; each partition is consumed by one member of a group at a time;
 * - offsets are committed explicitly (never automatically), so a consumer acknowledges an input only
 *   after its outputs are safe; a restarted member resumes from the group's committed offset;
 * - `sendInTransaction` writes records and commits a group's offsets atomically: a read-committed
 *   consumer sees all of them or none.
 */

export type Headers = Record<string, string>;

export interface OutgoingRecord {
  topic: string;
  key: string;
  /** null is a tombstone: on a compacted topic it deletes the key. */
  value: Uint8Array | null;
  headers?: Headers;
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  /** Offsets are decimal strings (Kafka's are 64-bit). */
  offset: string;
  key: string;
  /** null is a tombstone (compacted topics). */
  value: Uint8Array | null;
  headers: Headers;
  timestampMs: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** `offset` is the next offset to read, as Kafka commits it (last processed + 1). */
export interface TopicPartitionOffset extends TopicPartition {
  offset: string;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  configEntries?: Readonly<Record<string, string>>;
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
}

export interface BatchContext {
  /** False once the consumer is closing or the partition was revoked: stop early, nothing is committed. */
  readonly isRunning: () => boolean;
  /** Tells the group this member is alive during long work. */
  readonly heartbeat: () => Promise<void>;
}

export interface ConsumerHandlers {
  /**
   * One batch of one partition, in offset order. Throwing leaves the batch unacknowledged: the bus
   * redelivers from the group's committed offset (after a back-off).
   */
  eachBatch(batch: PartitionBatch, context: BatchContext): Promise<void>;
  /** Partitions this member now owns; runs before any of their records are delivered. */
  onAssigned?(partitions: TopicPartition[]): Promise<void>;
  /** Partitions this member no longer owns; runs after their in-flight batch finished. */
  onRevoked?(partitions: TopicPartition[]): Promise<void>;
  /**
   * The consumer stopped for good (the client gave up with a non-retriable error) and will deliver
   * nothing more. Transient failures (broker away, rebalances) never call it: the bus retries them.
   */
  onCrash?(error: Error): void;
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts: the earliest record (true) or new records only. */
  fromBeginning?: boolean;
  /** Skip records of aborted transactions and wait for open ones (Kafka's read_committed). Default true. */
  readCommitted?: boolean;
  /** Upper bound on records per delivered batch. */
  maxBatchRecords?: number;
  sessionTimeoutMs?: number;
  /**
   * Batches of different partitions handled at once (default 1). More lets a stage overlap work of
   * several partitions (the backbone's micro-batches then span them). One partition has one batch at a time.
   */
  partitionsConcurrently?: number;
}

export interface BusConsumer {
  /** Starts delivering to the handlers; resolves once the member has started. */
  run(handlers: ConsumerHandlers): Promise<void>;
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /** Stops fetching from these partitions (backpressure) until resumed. */
  pause(partitions: TopicPartition[]): void;
  resume(partitions: TopicPartition[]): void;
  /**
   * Where this member will read next on each partition it has read from: past the last record
   * delivered and past records a read_committed consumer skips (transaction markers, aborted
   * records). Compared with `Bus.endOffsets` it says whether the member has read everything.
   */
  readPositions(): TopicPartitionOffset[];
  /** Moves this member's read position on an owned partition. */
  seek(position: TopicPartitionOffset): void;
  /** Stops fetching, waits for the in-flight batch, leaves the group. Idempotent. */
  close(): Promise<void>;
}

export interface ProducerOptions {
  /** Required for sendInTransaction. Must stay the same across restarts of one replica, so a restarted
   *  replica fences its dead predecessor and aborts its open transaction. */
  transactionalId?: string;
}

export interface BusProducer {
  /** Resolves once every record is acknowledged by all in-sync replicas (Kafka acks=all). */
  send(records: OutgoingRecord[]): Promise<void>;
  /** Writes the records and commits the group's offsets in one transaction: all or nothing. */
  sendInTransaction(records: OutgoingRecord[], commit: { groupId: string; offsets: TopicPartitionOffset[] }): Promise<void>;
  /**
   * Resolves once no transaction of this producer's transactional id is left unfinished (at once
   * without one). When a commit fails its outcome can be unknown: the broker may have taken it and
   * gone away before answering, and it then finishes that transaction after coming back. Until it
   * has, the group's committed offsets do not show it, and work redone from them is written twice.
   * Initialising the id (which this does) makes the broker finish it first — or abort an open one
   * of a dead predecessor.
   */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export interface Bus {
  readonly kind: 'kafka' | 'memory';
  /** Creates the topics that do not exist yet (an existing topic is left as it is). */
  createTopics(topics: TopicSpec[]): Promise<void>;
  /** Partition count of a topic, or undefined when it does not exist. */
  partitionCount(topic: string): Promise<number | undefined>;
  /** Each partition's end offset (the offset the next record will get): how far "read everything" goes. */
  endOffsets(topic: string): Promise<TopicPartitionOffset[]>;
  /** Each partition's first offset still stored (retention and compaction move it). */
  startOffsets(topic: string): Promise<TopicPartitionOffset[]>;
  /**
   * The group's committed offsets on a topic's partitions; partitions it never committed are left out.
   * On Kafka, offsets committed in a transaction show a few milliseconds after the commit returns
   * (once the broker has written its markers; kafkajs cannot ask for stable offsets, KIP-447): read
   * them after settling the transactional id (BusProducer.settle), which waits for that.
   */
  committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]>;
  producer(options?: ProducerOptions): Promise<BusProducer>;
  consumer(options: ConsumerOptions): Promise<BusConsumer>;
  /**
   * When a broker last answered any of this bus's clients (epoch ms). Consumers poll all the time,
   * so a value far in the past means the bus is unreachable. The in-memory bus is always reachable.
   */
  lastContactMs(): number;
  /** One cheap request to a broker (cluster metadata): resolves when one answers, which counts as contact. */
  ping(): Promise<void>;
  /** Closes every producer and consumer made by this bus. */
  close(): Promise<void>;
}

/** The partition a key maps to. Both buses use Kafka's default partitioner (murmur2), so keys land alike. */
export type Partitioner = (key: string, partitionCount: number) => number;
