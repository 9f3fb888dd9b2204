import { type Bus, type Logger } from '@emostream/shared';
import type { IngestSettings } from './config.js';
import type { IngestMetrics } from './metrics.js';
import { type StreamDefinition, type StreamOutcome } from './stream-runner.js';
export interface IngestWorkerOptions {
    bus: Bus;
    topicPrefix: string;
    settings: IngestSettings;
    metrics: IngestMetrics;
    logger?: Logger;
}
/**
 * An ingest replica. The compacted streams topic holds the desired set of streams; ingest replicas
 * share its partitions through one consumer group, and each runs the streams of the partitions it
 * owns. The group never commits: on every assignment the worker reads its partitions from the start,
 * so it always sees the whole desired state (the topic is compacted, so this stays small).
 * A dead replica's partitions — and so its streams — move to the others.
 */
export declare class IngestWorker {
    private readonly options;
    private readonly runners;
    /**
     * Per file stream, how far this replica got, by spec: a rebalance that hands a partition back to
     * the same replica re-delivers its specs (the group never commits), and a file must then neither
     * start over nor, once done, run again — downstream would see its frames twice.
     */
    private readonly fileProgress;
    private readonly logger;
    private consumer;
    private producer;
    /** Outcomes of finished streams, for tests and the CLI. */
    readonly outcomes: Map<string, StreamOutcome>;
    constructor(options: IngestWorkerOptions);
    get streamsTopic(): string;
    get framesTopic(): string;
    start(): Promise<void>;
    /** Streams running now. */
    running(): StreamDefinition[];
    stop(): Promise<void>;
    /** One record of the streams topic: start, restart or stop a stream. */
    private apply;
    private startStream;
    private stopStream;
}
/** Writes (or with `remove`, deletes) a stream in the desired set. */
export declare function putStream(bus: Bus, topicPrefix: string, spec: StreamDefinition & {
    enabled?: boolean;
}, remove?: boolean): Promise<void>;
