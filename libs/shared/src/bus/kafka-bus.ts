import { readFileSync } from 'node:fs';
import {
  Kafka,
  logLevel,
  type Admin,
  Partitioners,
  type Consumer,
  type IHeaders,
  type KafkaConfig as KafkaJsConfig,
  type LogEntry,
  type Offsets,
  type Producer,
  type Transaction,
  type SASLOptions,
} from 'kafkajs';
import { DEFAULT_SESSION_TIMEOUT_MS, type KafkaConfig } from '../config/runtime-config.js';
import { BusError } from '../errors.js';
import { moduleLogger } from '../log.js';
import { MAX_MESSAGE_BYTES } from './limits.js';
import { sleep } from './notifier.js';
import type {
  Bus,
  BusConsumer,
  BusProducer,
  ConsumedRecord,
  ConsumerHandlers,
  ConsumerOptions,
  Headers,
  OutgoingRecord,
  ProducerOptions,
  TopicPartition,
  TopicPartitionOffset,
  TopicSpec,
} from './types.js';

const log = moduleLogger('kafka-bus');

/** The bus of the services: Apache Kafka through kafkajs. */
export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private readonly closers = new Set<() => Promise<void>>();
  private lastContact = Date.now();
  /** The admin client every admin call shares (withAdmin), once the first has connected it. */
  private admin: Promise<Admin> | undefined;
  /** Every answer a broker gives any client of this bus counts as contact. */
  private readonly touch = () => {
    this.lastContact = Date.now();
  };

  constructor(config: KafkaConfig) {
    this.kafka = new Kafka(toKafkaJsConfig(config));
  }

  lastContactMs(): number {
    return this.lastContact;
  }

  async ping(): Promise<void> {
    await this.withAdmin(async (admin) => {
      await admin.describeCluster();
    });
  }

  async createTopics(specs: TopicSpec[]): Promise<void> {
    // Another replica (or an operator) may create the same topics at the same moment; kafkajs then
    // fails its wait for leaders with a retriable "unknown topic" error. Retrying from the listing
    // makes concurrent creation converge.
    await retryRetriable('creating topics', () => this.createMissingTopics(specs));
  }

  private async createMissingTopics(specs: TopicSpec[]): Promise<void> {
    await this.withAdmin(async (admin) => {
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(s.name));
      if (missing.length === 0) return;
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.name,
          numPartitions: s.partitions,
          configEntries: Object.entries({ 'max.message.bytes': String(MAX_MESSAGE_BYTES), ...s.configEntries }).map(([name, value]) => ({
            name,
            value,
          })),
        })),
      });
    });
  }

  async partitionCount(topic: string): Promise<number | undefined> {
    return this.withAdmin(async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) return undefined;
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      return metadata.topics[0]?.partitions.length;
    });
  }

  async endOffsets(topic: string): Promise<TopicPartitionOffset[]> {
    return retryRetriable(`reading end offsets of ${topic}`, () =>
      this.withAdmin(async (admin) =>
        (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition, offset: p.high })),
      ),
    );
  }

  async startOffsets(topic: string): Promise<TopicPartitionOffset[]> {
    return retryRetriable(`reading start offsets of ${topic}`, () =>
      this.withAdmin(async (admin) =>
        (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition, offset: p.low })),
      ),
    );
  }

  async committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
    return retryRetriable(`reading the committed offsets of ${groupId}`, () =>
      this.withAdmin(async (admin) => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
        // kafkajs reports a partition the group never committed as offset -1.
        return (offsets?.partitions ?? [])
          .filter((p) => Number(p.offset) >= 0)
          .map((p) => ({ topic, partition: p.partition, offset: p.offset }));
      }),
    );
  }

  async producer(options: ProducerOptions = {}): Promise<BusProducer> {
    let producer = await this.connectProducer(options);
    // After a failure (the broker went away mid-transaction, a sequence the restarted broker no
    // longer knows) a kafkajs producer can be left unusable ("cannot continue to use transaction
    // once ended"): the next use gets a fresh one. With the same transactional id it fences the old
    // one and aborts its open transaction, so nothing half-written becomes visible.
    let broken = false;
    const current = async () => {
      if (broken) {
        await producer.disconnect().catch((error: unknown) => log.debug({ err: error }, 'disconnecting a failed producer failed'));
        producer = await this.connectProducer(options);
        broken = false;
      }
      return producer;
    };
    const guarded = async (work: (p: Producer) => Promise<void>) => {
      try {
        await work(await current());
      } catch (error) {
        // Also after the broker refused a record as too large: kafkajs then keeps the sequence numbers
        // of the request's other partitions, which the broker did write (in the aborted transaction),
        // and a resend of their records was acknowledged as a duplicate and never written (issue 27).
        // A fresh producer starts a new epoch, with new sequences.
        if (error instanceof BusError && (error.retriable || (error.code === 'RECORD_TOO_LARGE' && error.cause !== undefined)))
          broken = true;
        throw error;
      }
    };
    const close = () => producer.disconnect();
    this.closers.add(close);
    return {
      send: (records) => guarded((p) => sendRecords(p, records)),
      sendInTransaction: (records, commit) => guarded((p) => sendInTransaction(p, records, commit)),
      // An empty transaction sends the broker nothing but the InitProducerId a fresh (or never
      // used) producer makes first; kafkajs retries it while the broker answers that the id's last
      // transaction is still being finished (CONCURRENT_TRANSACTIONS), so it resolves after that.
      settle: async () => {
        if (options.transactionalId !== undefined) await guarded((p) => sendInTransaction(p, [], { groupId: '', offsets: [] }));
      },
      close: async () => {
        this.closers.delete(close);
        await close();
      },
    };
  }

  private async connectProducer(options: ProducerOptions): Promise<Producer> {
    const transactional = options.transactionalId !== undefined;
    const producer = this.kafka.producer({
      idempotent: true,
      // Kafka requires at most one request in flight for a transactional producer.
      maxInFlightRequests: transactional ? 1 : 5,
      allowAutoTopicCreation: false,
      // Java's murmur2 partitioner, as the InMemoryBus uses: a key lands on the same partition in both.
      createPartitioner: Partitioners.DefaultPartitioner,
      // An idempotent producer must not give up on a send it may already have written: kafkajs keeps
      // its sequence numbers consistent only with unlimited retries (a dead broker shows in health).
      // A transaction's first send right after the previous commit is refused with
      // CONCURRENT_TRANSACTIONS until the broker has written the commit markers (a few ms); at
      // kafkajs's usual first pause (200 ms) that wait dominated every transaction (p50 357 ms for
      // 16 records of 100 KB, 74 ms at 10 ms; Java's client retries it after 20 ms). The pause still
      // doubles up to 5 s, so an outage is not hammered.
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: transactional ? 10 : 200, maxRetryTime: 5_000 },
      ...(transactional ? { transactionalId: options.transactionalId, transactionTimeout: 60_000 } : {}),
    });
    producer.on(producer.events.REQUEST, this.touch);
    await connect(producer, 'producer');
    return producer;
  }

  async consumer(options: ConsumerOptions): Promise<BusConsumer> {
    const sessionTimeout = options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    const consumer = this.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 10)),
      rebalanceTimeout: Math.max(sessionTimeout, 10_000),
      readUncommitted: !(options.readCommitted ?? true),
      allowAutoTopicCreation: false,
      maxBytesPerPartition: MAX_MESSAGE_BYTES,
      maxWaitTimeInMs: 100,
    });
    consumer.on(consumer.events.REQUEST, this.touch);
    await connect(consumer, 'consumer');
    const wrapped = new KafkaConsumer(consumer, options);
    const close = () => wrapped.close();
    this.closers.add(close);
    return wrapped;
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await Promise.allSettled([...this.closers].map((close) => close()).concat(admin ? [admin.then((a) => a.disconnect())] : []));
    this.closers.clear();
  }

  /** Deletes every topic whose name starts with `prefix` (a run's own topics, once it is over); returns their names. */
  async deleteTopicsWithPrefix(prefix: string): Promise<string[]> {
    return this.withAdmin(async (admin) => {
      const names = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
      if (names.length > 0) await admin.deleteTopics({ topics: names });
      return names;
    });
  }

  /**
   * Runs admin work on the bus's one admin client. A client made for each call spent 200–300 ms on
   * its first request (cluster metadata, the group's coordinator), and an exactly-once stage reads
   * committed offsets for every partition it is given. After a failure the next call connects a
   * fresh client: the broker may have gone away, and with it the client's connections.
   */
  private async withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
    const connecting = (this.admin ??= this.connectAdmin());
    try {
      return await work(await connecting);
    } catch (error) {
      if (this.admin === connecting) {
        this.admin = undefined;
        void connecting
          .then((admin) => admin.disconnect())
          .catch((disconnectError: unknown) => log.debug({ err: disconnectError }, 'dropping a failed admin client failed'));
      }
      throw error;
    }
  }

  private async connectAdmin(): Promise<Admin> {
    const admin = this.kafka.admin();
    admin.on(admin.events.REQUEST, this.touch);
    await connect(admin, 'admin client');
    return admin;
  }
}

class KafkaConsumer implements BusConsumer {
  private assigned = new Set<string>();
  /** Assignment callbacks run in order, and every batch waits for them: a partition's onAssigned
   *  finishes before its first record is handled. */
  private assignmentWork: Promise<void> = Promise.resolve();
  private closed: Promise<void> | undefined;
  private handlers: ConsumerHandlers | undefined;
  /** Next offset to read per partition, from kafkajs's end-of-batch events (they include batches of skipped transaction markers). */
  private readonly positions = new Map<string, TopicPartitionOffset>();

  private readonly heartbeatEveryMs: number;

  constructor(
    private readonly consumer: Consumer,
    private readonly options: ConsumerOptions,
  ) {
    this.heartbeatEveryMs = Math.max(500, Math.floor((options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS) / 5));
  }

  /** May be called again after it failed (the broker was away): the listeners are installed once. */
  async run(handlers: ConsumerHandlers): Promise<void> {
    if (!this.handlers) this.listen(handlers);
    this.handlers = handlers;
    await this.subscribeAndRun(handlers);
  }

  private listen(handlers: ConsumerHandlers): void {
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      this.positions.set(`${payload.topic}\u0000${payload.partition}`, {
        topic: payload.topic,
        partition: payload.partition,
        offset: String(BigInt(payload.lastOffset) + 1n),
      });
    });
    // kafkajs restarts a consumer by itself after a retriable failure (broker away, coordinator
    // moving); a non-retriable one stops it for good, and nothing would ever be delivered again.
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        log.warn({ err: payload.error, groupId: payload.groupId }, 'consumer failed; kafkajs restarts it');
        return;
      }
      if (this.closed) return;
      log.error({ err: payload.error, groupId: payload.groupId }, 'consumer crashed with a non-retriable error and will not restart');
      handlers.onCrash?.(payload.error);
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      const now = new Set(
        Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}\u0000${p}`)),
      );
      const revoked = [...this.assigned].filter((k) => !now.has(k)).map(parseKey);
      const added = [...now].filter((k) => !this.assigned.has(k)).map(parseKey);
      this.assigned = now;
      this.assignmentWork = this.assignmentWork
        .then(async () => {
          if (revoked.length > 0) await handlers.onRevoked?.(revoked);
          if (added.length > 0) await handlers.onAssigned?.(added);
        })
        // This runs from a kafkajs event: a rejection here would end the process unannounced. The
        // handlers retry what is retriable themselves; what still fails is logged loudly.
        .catch((error: unknown) => log.error({ err: error, revoked, added }, 'partition assignment handling failed'));
    });
  }

  private async subscribeAndRun(handlers: ConsumerHandlers): Promise<void> {
    for (const topic of this.options.topics) {
      // A topic another process has just created may not be in this client's metadata yet.
      await retryRetriable(`subscribing to ${topic}`, () =>
        this.consumer.subscribe({ topic, fromBeginning: this.options.fromBeginning ?? false }),
      );
    }
    const maxRecords = this.options.maxBatchRecords ?? Number.MAX_SAFE_INTEGER;
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.options.partitionsConcurrently ?? 1,
      // kafkajs marks the whole batch consumed when eachBatch returns; when it throws, the consumer
      // restarts from the committed offsets, which is the redelivery the Bus contract promises.
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => {
        // kafkajs hands its controls as closures on the payload; called through it, none loses its `this`.
        const { batch } = payload;
        await this.assignmentWork;
        const all = batch.messages;
        for (let start = 0; start < all.length; start += maxRecords) {
          if (!payload.isRunning() || payload.isStale()) return;
          const slice = all.slice(start, start + maxRecords);
          const records: ConsumedRecord[] = slice.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key ? m.key.toString('utf8') : '',
            value: m.value,
            headers: toHeaders(m.headers),
            timestampMs: Number(m.timestamp),
          }));
          // A slow handler (a big model on CPU) can outlast the session timeout: keep heartbeating
          // while it works, or the group drops this member and the batch is redelivered forever.
          const beat = setInterval(
            () => void payload.heartbeat().catch((error: unknown) => log.debug({ err: error }, 'heartbeat during a batch failed')),
            this.heartbeatEveryMs,
          );
          try {
            await handlers.eachBatch(
              { topic: batch.topic, partition: batch.partition, records },
              { isRunning: () => payload.isRunning() && !payload.isStale(), heartbeat: () => payload.heartbeat() },
            );
          } finally {
            clearInterval(beat);
          }
          // A handler that saw the partition revoked (or the consumer stopping) returns without
          // acknowledging: the position must not move past those records, or a member that keeps
          // the partition would skip them (found by test/faults/broker-outage.test.ts).
          if (!payload.isRunning() || payload.isStale()) return;
          payload.resolveOffset(slice[slice.length - 1]!.offset);
          await payload.heartbeat();
        }
      },
    });
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    await this.consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })));
  }

  pause(partitions: TopicPartition[]): void {
    this.consumer.pause(groupByTopic(partitions));
  }

  resume(partitions: TopicPartition[]): void {
    this.consumer.resume(groupByTopic(partitions));
  }

  readPositions(): TopicPartitionOffset[] {
    return [...this.positions.values()];
  }

  seek(position: TopicPartitionOffset): void {
    this.positions.delete(`${position.topic}\u0000${position.partition}`);
    this.consumer.seek(position);
  }

  close(): Promise<void> {
    // kafkajs's disconnect stops fetching, waits for the running batch and leaves the group.
    this.closed ??= this.consumer.disconnect();
    return this.closed;
  }
}

/** Broker answers kafkajs marks final that a fresh producer (or a later try) gets past after an outage. */
const PASSING_REFUSALS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_TXN_STATE']);

/**
 * Whether a kafkajs failure may pass. Only a refusal by the broker that no retry can cure (a fenced
 * producer, a record too large, no authorisation) is final; everything an outage throws — refused
 * connections, "number of retries exceeded" (kafkajs marks even that non-retriable), coordinators
 * not found, a transaction left unusable — passes once the broker is back.
 */
function kafkaRetriable(error: unknown): boolean {
  for (let e = error as { retriable?: boolean; cause?: unknown; name?: string; type?: string } | undefined; e; e = e.cause as typeof e) {
    if (e.name === 'KafkaJSProtocolError' && e.retriable === false && !PASSING_REFUSALS.has(e.type ?? '')) return false;
  }
  return true;
}

/** A kafkajs failure as a BusError: RECORD_TOO_LARGE and other refusals a retry cannot cure are not retriable. */
function toBusError(what: string, error: unknown): BusError {
  if (error instanceof BusError) return error;
  const types = new Set<string>();
  for (let e = error as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e.type) types.add(e.type);
  // Another producer initialised this transactional id (a partition's new owner): kafkajs's request
  // versions get INVALID_PRODUCER_EPOCH, newer ones PRODUCER_FENCED (90, unknown to kafkajs).
  const messages = [] as string[];
  for (let e = error as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) messages.push(e.message ?? '');
  if (types.has('INVALID_PRODUCER_EPOCH') || types.has('PRODUCER_FENCED') || messages.some((m) => /Unknown error code 90\b/.test(m))) {
    return new BusError(`${what} failed: this producer was fenced by a newer one with its transactional id (${(error as Error).message})`, {
      cause: error,
      code: 'PRODUCER_FENCED',
    });
  }
  if (types.has('MESSAGE_TOO_LARGE') || types.has('RECORD_LIST_TOO_LARGE')) {
    return new BusError(`${what} failed: the broker refused a record over its size limit (${(error as Error).message})`, {
      cause: error,
      code: 'RECORD_TOO_LARGE',
    });
  }
  return new BusError(`${what} failed: ${(error as Error).message}`, {
    cause: error,
    code: kafkaRetriable(error) ? 'BUS_FAILED' : 'BUS_REFUSED',
  });
}

/**
 * Runs `work` again (with a growing pause, ten times at most) while it fails with an error Kafka
 * marks retriable — "unknown topic or partition" right after another client created the topic, a
 * leader election — and wraps the last failure in a BusError.
 */
async function retryRetriable<T>(what: string, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const retriable = kafkaRetriable(error);
      if (!retriable || attempt >= 10) throw toBusError(what, error);
      log.info({ attempt, err: error }, `${what} failed with a retriable error; retrying`);
      await sleep(200 * attempt);
    }
  }
}

async function sendRecords(producer: Producer, records: OutgoingRecord[]): Promise<void> {
  if (records.length === 0) return;
  const topicMessages = toTopicMessages(records);
  try {
    await producer.sendBatch({ acks: -1, topicMessages });
  } catch (error) {
    throw toBusError('produce', error);
  }
}

async function sendInTransaction(
  producer: Producer,
  records: OutgoingRecord[],
  commit: { groupId: string; offsets: TopicPartitionOffset[] },
): Promise<void> {
  const topicMessages = toTopicMessages(records);
  let transaction;
  try {
    transaction = await producer.transaction();
  } catch (error) {
    throw toBusError('starting a transaction', error);
  }
  try {
    if (records.length > 0) await transaction.sendBatch({ acks: -1, topicMessages });
    if (commit.offsets.length > 0) {
      const byTopic = new Map<string, { partition: number; offset: string }[]>();
      for (const o of commit.offsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), { partition: o.partition, offset: o.offset }]);
      const offsets = { consumerGroupId: commit.groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) };
      await (records.length > 0 ? transaction.sendOffsets(offsets) : sendOffsetsAlone(transaction, offsets));
    }
    await transaction.commit();
  } catch (error) {
    await transaction.abort().catch((abortError: unknown) => log.warn({ err: abortError }, 'abort after a failed transaction failed'));
    throw toBusError('transaction', error);
  }
}

/**
 * The offsets of a transaction without records (a batch without outputs: the sink's frames without
 * faces). Such a transaction's first request is AddOffsetsToTxn, which the broker refuses with
 * CONCURRENT_TRANSACTIONS until it has written the previous transaction's markers (a few ms), and
 * kafkajs retries that refusal only for AddPartitionsToTxn. Unretried, about one in four such
 * transactions right after a commit failed, and each failure made the runner rebuild the partition's
 * state (the sink replays 2,000 records).
 */
async function sendOffsetsAlone(transaction: Transaction, offsets: Offsets & { consumerGroupId: string }): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let pause = 10; ; pause = Math.min(pause * 2, 1_000)) {
    try {
      return await transaction.sendOffsets(offsets);
    } catch (error) {
      if ((error as { type?: string }).type !== 'CONCURRENT_TRANSACTIONS' || Date.now() > deadline) throw error;
      await sleep(pause);
    }
  }
}

function toTopicMessages(records: OutgoingRecord[]) {
  const byTopic = new Map<string, { key: string; value: Buffer | null; headers: Headers }[]>();
  for (const r of records) {
    // Refused here as the broker would, before it costs a request (and a transaction).
    if (r.value && r.value.byteLength > MAX_MESSAGE_BYTES) {
      throw new BusError(`record for ${r.topic} is ${r.value.byteLength} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit`, {
        code: 'RECORD_TOO_LARGE',
      });
    }
    const value = r.value === null ? null : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), { key: r.key, value, headers: r.headers ?? {} }]);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

function toHeaders(headers: IHeaders | undefined): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}

function groupByTopic(partitions: TopicPartition[]): { topic: string; partitions: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const p of partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
  return [...byTopic].map(([topic, parts]) => ({ topic, partitions: parts }));
}

function parseKey(key: string): TopicPartition {
  const [topic, partition] = key.split('\u0000');
  return { topic: topic!, partition: Number(partition) };
}

async function connect(client: { connect(): Promise<void> }, what: string): Promise<void> {
  try {
    await client.connect();
  } catch (error) {
    throw new BusError(`Kafka ${what} could not connect: ${(error as Error).message}`, { cause: error });
  }
}

function toKafkaJsConfig(config: KafkaConfig): KafkaJsConfig {
  const brokers = config.brokers
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const ssl = config.ssl.enabled
    ? {
        rejectUnauthorized: config.ssl.rejectUnauthorized,
        ...(config.ssl.caFile ? { ca: [readFileSync(config.ssl.caFile, 'utf8')] } : {}),
      }
    : undefined;
  const sasl: SASLOptions | undefined =
    config.sasl.mechanism === 'none'
      ? undefined
      : { mechanism: config.sasl.mechanism, username: config.sasl.username, password: config.sasl.password };
  return {
    clientId: config.clientId,
    brokers,
    ...(ssl ? { ssl } : {}),
    ...(sasl ? { sasl } : {}),
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      // kafkajs logs every error response of a request at ERROR, although it retries most of them
      // (a rebalance answers heartbeats with an error by design): those go to debug; what kafkajs
      // gives up on reaches the caller as a thrown error.
      const retriedResponse = entry.namespace === 'Connection' || 'retryCount' in extra || /re-joining the group/.test(message);
      const level = retriedResponse ? 'debug' : entry.level <= logLevel.ERROR ? 'error' : entry.level === logLevel.WARN ? 'warn' : 'info';
      log[level]({ kafkajs: entry.namespace, ...extra }, message);
    },
  };
}
