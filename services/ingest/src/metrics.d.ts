import { Counter, Gauge, type Registry } from 'prom-client';
/** Ingest's metrics: per stream, so an operator sees which camera is in trouble. */
export declare class IngestMetrics {
    readonly frames: Counter<'stream'>;
    readonly reconnects: Counter<'stream'>;
    readonly errors: Counter<'stream' | 'reason'>;
    readonly running: Gauge;
    readonly ready: Gauge;
    constructor(registry: Registry);
}
