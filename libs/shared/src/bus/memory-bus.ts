import { Partitioners } from 'kafkajs';
import { BusError } from '../errors.js';
import { moduleLogger } from '../log.js';
import { MAX_MESSAGE_BYTES } from './limits.js';
import { Notifier, sleep } from './notifier.js';
import type {
  Bus,
  BusConsumer,
  BusProducer,
  ConsumedRecord,
  ConsumerHandlers,
  ConsumerOptions,
  OutgoingRecord,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
} from './types.js';

/**
 * Runs `work` now and hands over its result, or what it threw, as a promise. The in-memory bus answers at once,
 * yet it fails as the Kafka bus does: a rejection, never a throw at the call (`Promise.all([a(), b()])` and
 * `.catch()` chains see the same either way).
 */
function settled<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

const log = moduleLogger('memory-bus');

export interface InMemoryBusOptions {
  /**
   * Most records a partition holds that some subscribed group has not committed yet. A producer
   * writing to a full partition waits until consumers commit: that is the backpressure that keeps
   * a fast ingest from filling memory ahead of a slow backbone.
   */
  maxQueuedPerPartition?: number;
  /** Back-off before a failed batch is redelivered. */
  retryBackoffMs?: number;
}

interface StoredRecord {
  key: string;
  value: Uint8Array | null;
  headers: Record<string, string>;
  timestampMs: number;
}

/** One partition's log. Records below the slowest subscribed group's committed offset are dropped. */
class PartitionLog {
  startOffset = 0;
  records: StoredRecord[] = [];

  get endOffset(): number {
    return this.startOffset + this.records.length;
  }

  read(from: number, max: number): { offset: number; record: StoredRecord }[] {
    const begin = Math.max(from, this.startOffset) - this.startOffset;
    return this.records.slice(begin, begin + max).map((record, i) => ({ offset: this.startOffset + begin + i, record }));
  }

  trimTo(offset: number): void {
    const drop = Math.min(offset, this.endOffset) - this.startOffset;
    if (drop <= 0) return;
    this.records.splice(0, drop);
    this.startOffset += drop;
  }
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** A consumer group: its members, who owns which partition, and the committed offsets. */
class Group {
  readonly members: MemoryConsumer[] = [];
  readonly committed = new Map<string, number>();
  /** Who holds a partition right now. A partition changes hands only after its holder released it. */
  readonly holder = new Map<string, MemoryConsumer>();
  /** Who should hold each partition after the current rebalance. */
  target = new Map<MemoryConsumer, TopicPartition[]>();

  constructor(readonly id: string) {}
}

/**
 * The bus for a single process: `emo run` runs all five stages on it with no broker. It keeps the
 * semantics the stages rely on (per-key order through Kafka's partitioner, consumer groups,
 * explicit commits, atomic transactions) and bounds every partition's backlog.
 */
export class InMemoryBus implements Bus {
  readonly kind = 'memory' as const;
  readonly changed = new Notifier();
  private readonly topics = new Map<string, PartitionLog[]>();
  private readonly groups = new Map<string, Group>();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly consumers = new Set<MemoryConsumer>();
  private closed = false;
  readonly maxQueuedPerPartition: number;
  readonly retryBackoffMs: number;

  constructor(options: InMemoryBusOptions = {}) {
    this.maxQueuedPerPartition = options.maxQueuedPerPartition ?? 1_000;
    this.retryBackoffMs = options.retryBackoffMs ?? 200;
  }

  createTopics(specs: TopicSpec[]): Promise<void> {
    return settled(() => {
      for (const spec of specs) {
        if (!this.topics.has(spec.name)) {
          if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
            throw new BusError(`topic ${spec.name}: partitions must be a positive integer`, { code: 'BUS_REFUSED' });
          }
          this.topics.set(
            spec.name,
            Array.from({ length: spec.partitions }, () => new PartitionLog()),
          );
        }
      }
    });
  }

  partitionCount(topic: string): Promise<number | undefined> {
    return Promise.resolve(this.topics.get(topic)?.length);
  }

  endOffsets(topic: string): Promise<TopicPartitionOffset[]> {
    return settled(() => this.partitions(topic).map((log, partition) => ({ topic, partition, offset: String(log.endOffset) })));
  }

  startOffsets(topic: string): Promise<TopicPartitionOffset[]> {
    return settled(() => this.partitions(topic).map((log, partition) => ({ topic, partition, offset: String(log.startOffset) })));
  }

  committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
    const committed = this.groups.get(groupId)?.committed;
    return settled(() =>
      this.partitions(topic).flatMap((_, partition) => {
        const offset = committed?.get(tpKey(topic, partition));
        return offset === undefined ? [] : [{ topic, partition, offset: String(offset) }];
      }),
    );
  }

  producer(): Promise<BusProducer> {
    return settled(() => {
      this.assertOpen();
      return {
        send: (records) => this.append(records),
        sendInTransaction: (records, commit) => this.append(records, commit),
        // A transaction here is applied whole or not at all: none is ever left unfinished.
        settle: async () => {},
        close: async () => {},
      };
    });
  }

  consumer(options: ConsumerOptions): Promise<BusConsumer> {
    return settled(() => {
      this.assertOpen();
      for (const topic of options.topics) this.partitions(topic);
      const consumer = new MemoryConsumer(this, options);
      this.consumers.add(consumer);
      return consumer;
    });
  }

  lastContactMs(): number {
    return Date.now(); // one process: the bus is always there
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.close()));
    this.changed.notify();
  }

  // ---- internals shared with MemoryConsumer ----

  partitions(topic: string): PartitionLog[] {
    const logs = this.topics.get(topic);
    if (!logs) throw new BusError(`topic ${topic} does not exist (create it first)`, { code: 'BUS_REFUSED' });
    return logs;
  }

  group(id: string): Group {
    let group = this.groups.get(id);
    if (!group) {
      group = new Group(id);
      this.groups.set(id, group);
    }
    return group;
  }

  forgetConsumer(consumer: MemoryConsumer): void {
    this.consumers.delete(consumer);
  }

  /** Groups that subscribe to a topic: the ones whose progress bounds its backlog. */
  private subscribersOf(topic: string): Group[] {
    return [...this.groups.values()].filter((g) => g.members.some((m) => m.options.topics.includes(topic)));
  }

  /** Offset below which every subscribed group has committed (undefined when nobody subscribes). */
  private slowestCommitted(topic: string, partition: number, log: PartitionLog): number | undefined {
    const groups = this.subscribersOf(topic);
    if (groups.length === 0) return undefined;
    return Math.min(...groups.map((g) => g.committed.get(tpKey(topic, partition)) ?? log.startOffset));
  }

  private hasRoom(topic: string, partition: number): boolean {
    const log = this.partitions(topic)[partition]!;
    const slowest = this.slowestCommitted(topic, partition, log);
    return slowest === undefined || log.endOffset - slowest < this.maxQueuedPerPartition;
  }

  partitionOf(topic: string, key: string): number {
    const count = this.partitions(topic).length;
    const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    return this.partitioner({ topic, partitionMetadata, message: { key, value: null } });
  }

  /** Appends records (waiting for room first), and commits offsets in the same synchronous step. */
  private async append(records: OutgoingRecord[], commit?: { groupId: string; offsets: TopicPartitionOffset[] }): Promise<void> {
    this.assertOpen();
    // Check everything before appending anything: a refused record fails the whole call, as a
    // Kafka transaction would, and a plain send refuses it as the broker would.
    for (const r of records) {
      if (r.value && r.value.byteLength > MAX_MESSAGE_BYTES) {
        throw new BusError(`record for ${r.topic} is ${r.value.byteLength} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit`, {
          code: 'RECORD_TOO_LARGE',
        });
      }
    }
    const placed = records.map((r) => ({ record: r, partition: this.partitionOf(r.topic, r.key) }));
    while (!placed.every((p) => this.hasRoom(p.record.topic, p.partition))) {
      this.assertOpen();
      await this.changed.wait();
    }
    const now = Date.now();
    for (const { record, partition } of placed) {
      this.partitions(record.topic)[partition]!.records.push({
        key: record.key,
        value: record.value,
        headers: { ...(record.headers ?? {}) },
        timestampMs: now,
      });
    }
    if (commit) this.commit(commit.groupId, commit.offsets);
    this.changed.notify();
  }

  commit(groupId: string, offsets: TopicPartitionOffset[]): void {
    const group = this.group(groupId);
    for (const o of offsets) {
      group.committed.set(tpKey(o.topic, o.partition), Number(o.offset));
      this.trim(o.topic, o.partition);
    }
    this.changed.notify();
  }

  /** Drops what every subscribed group has committed: the in-memory bus keeps no history. */
  private trim(topic: string, partition: number): void {
    const log = this.partitions(topic)[partition]!;
    const slowest = this.slowestCommitted(topic, partition, log);
    if (slowest !== undefined) log.trimTo(slowest);
  }

  /** Spreads a group's partitions over its members (round robin, in join order). */
  rebalance(group: Group): void {
    const target = new Map<MemoryConsumer, TopicPartition[]>(group.members.map((m) => [m, []]));
    const topicsWanted = [...new Set(group.members.flatMap((m) => m.options.topics))].sort();
    for (const topic of topicsWanted) {
      const members = group.members.filter((m) => m.options.topics.includes(topic));
      this.partitions(topic).forEach((_, partition) => {
        target.get(members[partition % members.length]!)!.push({ topic, partition });
      });
    }
    group.target = target;
    this.changed.notify();
  }

  private assertOpen(): void {
    if (this.closed) throw new BusError('the in-memory bus is closed', { code: 'BUS_REFUSED' });
  }
}

class MemoryConsumer implements BusConsumer {
  private readonly group: Group;
  private readonly owned = new Map<string, TopicPartition>();
  private readonly positions = new Map<string, number>();
  private readonly paused = new Set<string>();
  private handlers: ConsumerHandlers | undefined;
  private loop: Promise<void> | undefined;
  private closing = false;
  private nextIndex = 0;
  /** The batch being handled per partition (several partitions at once with partitionsConcurrently). */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Failed batches in a row per partition: the pause before the next delivery grows with them. */
  private readonly failures = new Map<string, number>();
  /** Partitions sought while their batch was in hand: the seek, not the batch's end, says where to go on
   *  (even a seek to the batch's own first offset, as a replay from the start of the log does). */
  private readonly sought = new Set<string>();

  constructor(
    private readonly bus: InMemoryBus,
    readonly options: ConsumerOptions,
  ) {
    this.group = bus.group(options.groupId);
  }

  run(handlers: ConsumerHandlers): Promise<void> {
    return settled(() => {
      if (this.loop) throw new BusError('consumer is already running', { code: 'BUS_REFUSED' });
      this.handlers = handlers;
      this.group.members.push(this);
      this.bus.rebalance(this.group);
      this.loop = this.consumeLoop();
    });
  }

  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    return settled(() => this.bus.commit(this.group.id, offsets));
  }

  pause(partitions: TopicPartition[]): void {
    for (const p of partitions) this.paused.add(tpKey(p.topic, p.partition));
  }

  resume(partitions: TopicPartition[]): void {
    for (const p of partitions) this.paused.delete(tpKey(p.topic, p.partition));
    this.bus.changed.notify();
  }

  readPositions(): TopicPartitionOffset[] {
    return [...this.owned]
      .filter(([key]) => this.positions.has(key))
      .map(([key, tp]) => ({ ...tp, offset: String(this.positions.get(key)) }));
  }

  seek(position: TopicPartitionOffset): void {
    const key = tpKey(position.topic, position.partition);
    if (!this.owned.has(key)) throw new BusError(`cannot seek ${position.topic}[${position.partition}]: not assigned to this member`);
    this.positions.set(key, Number(position.offset));
    this.sought.add(key);
    this.bus.changed.notify();
  }

  async close(): Promise<void> {
    if (this.closing) return this.loop;
    this.closing = true;
    this.bus.changed.notify();
    await this.loop;
    this.bus.forgetConsumer(this);
  }

  private async consumeLoop(): Promise<void> {
    const concurrently = Math.max(1, this.options.partitionsConcurrently ?? 1);
    while (!this.closing) {
      try {
        await this.followAssignment();
      } catch (error) {
        log.warn({ err: error, group: this.group.id }, 'assignment handler failed; retrying');
        await sleep(this.bus.retryBackoffMs);
        continue;
      }
      let started = false;
      while (this.inFlight.size < concurrently) {
        const batch = this.nextBatch();
        if (!batch) break;
        this.startBatch(batch);
        started = true;
      }
      // Wait for news (a record, a commit, a rebalance, close) or for a batch to end and free its
      // partition. `closing` is checked in the same synchronous step as the wait begins: a close whose
      // notification came while this loop was busy is not missed.
      if (!started && !this.closing) await Promise.race([this.bus.changed.wait(), ...this.inFlight.values()]);
    }
    await Promise.all(this.inFlight.values());
    await this.releaseAll();
  }

  /**
   * Hands one partition's batch to the handler, alongside batches of other partitions; a partition
   * has one batch at a time. A failed batch is redelivered from its committed offset after a pause
   * that grows with each failure in a row; the other partitions go on meanwhile.
   */
  private startBatch(batch: { topic: string; partition: number; records: ConsumedRecord[] }): void {
    const key = tpKey(batch.topic, batch.partition);
    this.sought.delete(key);
    const done = (async () => {
      try {
        await this.handlers!.eachBatch(batch, {
          isRunning: () => !this.closing && this.owned.has(key),
          heartbeat: async () => {},
        });
        const last = batch.records[batch.records.length - 1]!;
        if (!this.sought.has(key)) this.positions.set(key, Number(last.offset) + 1);
        this.failures.delete(key);
      } catch (error) {
        const failures = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, failures);
        log.warn({ err: error, group: this.group.id, partition: key, failures }, 'batch failed; redelivering from the committed offset');
        if (this.owned.has(key)) this.positions.set(key, this.startOffset({ topic: batch.topic, partition: batch.partition }));
        await sleep(Math.min(this.bus.retryBackoffMs * failures, 5_000));
      } finally {
        this.inFlight.delete(key);
      }
    })();
    this.inFlight.set(key, done);
  }

  /** Releases partitions this member should no longer hold, then takes the free ones it should. */
  private async followAssignment(): Promise<void> {
    const wanted = this.group.target.get(this) ?? [];
    const wantedKeys = new Set(wanted.map((p) => tpKey(p.topic, p.partition)));
    const revoked = [...this.owned].filter(([key]) => !wantedKeys.has(key));
    if (revoked.length > 0) {
      // As Kafka does, a partition is given up only once its batch in hand is done.
      await Promise.all(revoked.map(([key]) => this.inFlight.get(key) ?? Promise.resolve()));
      await this.handlers!.onRevoked?.(revoked.map(([, tp]) => tp));
      for (const [key] of revoked) {
        this.owned.delete(key);
        this.positions.delete(key);
        this.group.holder.delete(key);
      }
      this.bus.changed.notify();
    }
    const added = wanted.filter((p) => {
      const key = tpKey(p.topic, p.partition);
      return !this.owned.has(key) && !this.group.holder.has(key);
    });
    if (added.length > 0) {
      for (const tp of added) {
        const key = tpKey(tp.topic, tp.partition);
        this.group.holder.set(key, this);
        this.owned.set(key, tp);
        this.positions.set(key, this.startOffset(tp));
      }
      await this.handlers!.onAssigned?.(added);
    }
  }

  private startOffset(tp: TopicPartition): number {
    const log = this.bus.partitions(tp.topic)[tp.partition]!;
    const committed = this.group.committed.get(tpKey(tp.topic, tp.partition));
    if (committed !== undefined) return Math.max(committed, log.startOffset);
    return this.options.fromBeginning ? log.startOffset : log.endOffset;
  }

  /** The next batch, taking owned partitions in turn so that no partition starves the others. */
  private nextBatch(): { topic: string; partition: number; records: ConsumedRecord[] } | undefined {
    const owned = [...this.owned.entries()];
    for (let i = 0; i < owned.length; i += 1) {
      const [key, tp] = owned[(this.nextIndex + i) % owned.length]!;
      if (this.paused.has(key) || this.inFlight.has(key)) continue;
      const log = this.bus.partitions(tp.topic)[tp.partition]!;
      const position = this.positions.get(key)!;
      if (position >= log.endOffset) continue;
      this.nextIndex = (this.nextIndex + i + 1) % owned.length;
      const records = log.read(position, this.options.maxBatchRecords ?? 500).map(({ offset, record }) => ({
        topic: tp.topic,
        partition: tp.partition,
        offset: String(offset),
        key: record.key,
        value: record.value,
        headers: record.headers,
        timestampMs: record.timestampMs,
      }));
      if (records.length > 0) return { topic: tp.topic, partition: tp.partition, records };
    }
    return undefined;
  }

  private async releaseAll(): Promise<void> {
    const held = [...this.owned.values()];
    if (held.length > 0) await this.handlers?.onRevoked?.(held);
    for (const key of this.owned.keys()) this.group.holder.delete(key);
    this.owned.clear();
    this.positions.clear();
    const index = this.group.members.indexOf(this);
    if (index >= 0) this.group.members.splice(index, 1);
    this.bus.rebalance(this.group);
  }
}
