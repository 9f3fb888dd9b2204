import { hostname } from 'node:os';
import { z } from 'zod';
import { envBindingsOf, envBoolean, type EnvBinding } from './load.js';

const saslCredentials = {
  username: z.string().min(1).describe('SASL user name. Env KAFKA_SASL_USERNAME.'),
  password: z.string().min(1).describe('SASL password. Env KAFKA_SASL_PASSWORD (secret).'),
};

export const kafkaConfigSchema = z
  .object({
    brokers: z.string().min(1).describe('Bootstrap servers, comma-separated host:port. Env KAFKA_BROKERS.'),
    clientId: z.string().min(1).default('emostream').describe('Kafka client id prefix. Env KAFKA_CLIENT_ID.'),
    ssl: z
      .object({
        enabled: envBoolean.default(false).describe('Connect with TLS. Env KAFKA_SSL.'),
        caFile: z.string().optional().describe('PEM file of the CA to trust (else the system CAs). Env KAFKA_SSL_CA_FILE.'),
        rejectUnauthorized: envBoolean.default(true).describe('Verify the broker certificate. Env KAFKA_SSL_REJECT_UNAUTHORIZED.'),
      })
      .strict()
      .default({}),
    sasl: z
      .discriminatedUnion('mechanism', [
        z.object({ mechanism: z.literal('none') }).strict(),
        z.object({ mechanism: z.literal('plain'), ...saslCredentials }).strict(),
        z.object({ mechanism: z.literal('scram-sha-256'), ...saslCredentials }).strict(),
        z.object({ mechanism: z.literal('scram-sha-512'), ...saslCredentials }).strict(),
      ])
      .default({ mechanism: 'none' })
      .describe('SASL authentication. Env KAFKA_SASL_MECHANISM (none|plain|scram-sha-256|scram-sha-512).'),
  })
  .strict();
export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;

/** The settings every stage shares: which bus, how to deliver, ops endpoints, shutdown. */
export const runtimeConfigSchema = z
  .object({
    bus: z.enum(['kafka', 'memory']).default('kafka').describe('Message bus. Env EMOSTREAM_BUS.'),
    kafka: kafkaConfigSchema.optional(),
    topicPrefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'only letters, digits, ".", "_" and "-"')
      .default('emostream')
      .describe('Prefix of every topic name (prefix.frames.v1). Env EMOSTREAM_TOPIC_PREFIX.'),
    delivery: z
      .enum(['at-least-once', 'exactly-once'])
      .default('at-least-once')
      .describe('Delivery guarantee. exactly-once uses Kafka transactions per batch. Env EMOSTREAM_DELIVERY.'),
    instanceId: z
      .string()
      .min(1)
      .default(hostname())
      .describe('Stable id of this replica (pod name); the transactional id derives from it. Env EMOSTREAM_INSTANCE_ID.'),
    maxBatchSize: z.coerce
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe('Most input messages handled and committed together. Env EMOSTREAM_MAX_BATCH_SIZE.'),
    opsPort: z.coerce
      .number()
      .int()
      .min(0)
      .max(65_535)
      .optional()
      .describe(
        "Port of /metrics, /healthz and /readyz (0 = any free port); unset, each stage's own (ingest 9401, face 9402, backbone 9403, temporal 9404, sink 9405), so stages side by side on one host all start. Env EMOSTREAM_OPS_PORT.",
      ),
    opsHost: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe(
        'Address the ops server binds: loopback by default (/metrics tells about the streams); the Kubernetes manifests set 0.0.0.0 so Prometheus and the kubelet reach it. Env EMOSTREAM_OPS_HOST.',
      ),
    deadLetterImages: envBoolean
      .default(false)
      .describe(
        'Keep the biometric payloads (frames, face crops, face features) of dead-lettered messages; off: their size and SHA-256 only. Env EMOSTREAM_DLQ_KEEP_IMAGES.',
      ),
    shutdownGraceMs: z.coerce
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Time to finish in-flight work on SIGTERM before a hard stop. Env EMOSTREAM_SHUTDOWN_GRACE_MS.'),
    sessionTimeoutMs: z.coerce
      .number()
      .int()
      .min(6_000)
      .default(30_000)
      .describe("Consumer group session timeout: how soon a dead replica's partitions move. Env EMOSTREAM_SESSION_TIMEOUT_MS."),
    maxRetries: z.coerce
      .number()
      .int()
      .min(0)
      .max(100)
      .default(5)
      .describe(
        'Retries of a batch whose handler failed with a retriable error, with growing back-off, before its inputs are dead-lettered. Env EMOSTREAM_MAX_RETRIES.',
      ),
    retryBackoffMs: z.coerce
      .number()
      .int()
      .positive()
      .default(500)
      .describe('First back-off of a retry; it doubles per attempt, up to 30 s. Env EMOSTREAM_RETRY_BACKOFF_MS.'),
    busUnreachableMs: z.coerce
      .number()
      .int()
      .positive()
      .default(15_000)
      .describe(
        'No answer from the bus for this long makes the process unready (/readyz 503), sets the bus_reachable metric to 0 and logs one warning; it keeps retrying and recovers by itself. Env EMOSTREAM_BUS_UNREACHABLE_MS.',
      ),
    tracing: z
      .object({
        exporter: z.enum(['none', 'otlp']).default('none').describe('Span exporter. Env EMOSTREAM_TRACING_EXPORTER.'),
        endpoint: z.string().url().optional().describe('OTLP/HTTP traces URL. Env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.bus === 'kafka' && !config.kafka) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['kafka', 'brokers'], message: 'Required when bus is kafka' });
    }
  });
export type RuntimeConfig = z.infer<typeof runtimeConfigSchema>;

/**
 * Each stage's ops port when EMOSTREAM_OPS_PORT is not set: distinct, so the five stages started side
 * by side with their defaults on one host all start (one shared default made the second die with
 * EADDRINUSE). Containers and the Kubernetes manifests set EMOSTREAM_OPS_PORT=9400, which wins.
 */
export const DEFAULT_OPS_PORTS: Readonly<Record<string, number>> = { ingest: 9401, face: 9402, backbone: 9403, temporal: 9404, sink: 9405 };

/** The port a stage's ops server listens on: EMOSTREAM_OPS_PORT when set, else the stage's own default (9400 for a stage not listed). */
export function opsPortOf(stage: string, config: Pick<RuntimeConfig, 'opsPort'>): number {
  return config.opsPort ?? DEFAULT_OPS_PORTS[stage] ?? 9400;
}

/** Environment variables of the runtime config, relative to its own root (from the schema's descriptions). */
export const runtimeEnvBindings: readonly EnvBinding[] = envBindingsOf(runtimeConfigSchema);

/** Re-roots env bindings under a key, so a service config can nest the runtime config as `runtime`. */
export function nestBindings(prefix: string, bindings: readonly EnvBinding[]): EnvBinding[] {
  return bindings.map((b) => ({ ...b, path: `${prefix}.${b.path}` }));
}
