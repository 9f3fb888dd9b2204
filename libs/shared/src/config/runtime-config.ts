import { hostname } from 'node:os';
import { z } from 'zod';
import { envBindingsOf, envBoolean, fromEnv, type EnvBinding } from './load.js';

/** The runtime's default batch (EMOSTREAM_MAX_BATCH_SIZE): also what per-stream histories keep by default (StreamHistory). */
export const DEFAULT_MAX_BATCH_SIZE = 64;

const saslCredentials = {
  username: fromEnv('KAFKA_SASL_USERNAME', z.string().min(1).describe('SASL user name.')),
  password: fromEnv('KAFKA_SASL_PASSWORD', z.string().min(1).describe('SASL password.'), { secret: true }),
};

export const kafkaConfigSchema = z
  .object({
    brokers: fromEnv('KAFKA_BROKERS', z.string().min(1).describe('Bootstrap servers, comma-separated host:port.')),
    clientId: fromEnv('KAFKA_CLIENT_ID', z.string().min(1).default('emostream').describe('Kafka client id prefix.')),
    ssl: z
      .object({
        enabled: fromEnv('KAFKA_SSL', envBoolean.default(false).describe('Connect with TLS.')),
        caFile: fromEnv('KAFKA_SSL_CA_FILE', z.string().optional().describe('PEM file of the CA to trust (else the system CAs).')),
        rejectUnauthorized: fromEnv('KAFKA_SSL_REJECT_UNAUTHORIZED', envBoolean.default(true).describe('Verify the broker certificate.')),
      })
      .strict()
      .default({}),
    sasl: fromEnv(
      'KAFKA_SASL_MECHANISM',
      z
        .discriminatedUnion('mechanism', [
          z.object({ mechanism: z.literal('none') }).strict(),
          z.object({ mechanism: z.literal('plain'), ...saslCredentials }).strict(),
          z.object({ mechanism: z.literal('scram-sha-256'), ...saslCredentials }).strict(),
          z.object({ mechanism: z.literal('scram-sha-512'), ...saslCredentials }).strict(),
        ])
        .default({ mechanism: 'none' })
        .describe('SASL authentication (none|plain|scram-sha-256|scram-sha-512).'),
    ),
  })
  .strict();
export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;

/** EMOSTREAM_SESSION_TIMEOUT_MS's default, also the session of consumers made outside a stage (readers, followers). */
export const DEFAULT_SESSION_TIMEOUT_MS = 30_000;

/** The settings every stage shares: which bus, how to deliver, ops endpoints, shutdown. */
export const runtimeConfigSchema = z
  .object({
    bus: fromEnv('EMOSTREAM_BUS', z.enum(['kafka', 'memory']).default('kafka').describe('Message bus.')),
    kafka: kafkaConfigSchema.optional(),
    topicPrefix: fromEnv(
      'EMOSTREAM_TOPIC_PREFIX',
      z
        .string()
        .regex(/^[A-Za-z0-9._-]+$/, 'only letters, digits, ".", "_" and "-"')
        .default('emostream')
        .describe('Prefix of every topic name (prefix.frames.v1).'),
    ),
    delivery: fromEnv(
      'EMOSTREAM_DELIVERY',
      z
        .enum(['at-least-once', 'exactly-once'])
        .default('at-least-once')
        .describe('Delivery guarantee. exactly-once uses Kafka transactions per batch.'),
    ),
    instanceId: fromEnv(
      'EMOSTREAM_INSTANCE_ID',
      z.string().min(1).default(hostname()).describe('Stable id of this replica (pod name); the transactional id derives from it.'),
      { shownDefault: 'the host name' },
    ),
    maxBatchSize: fromEnv(
      'EMOSTREAM_MAX_BATCH_SIZE',
      z.coerce
        .number()
        .int()
        .min(1)
        .max(10_000)
        .default(DEFAULT_MAX_BATCH_SIZE)
        .describe('Most input messages handled and committed together.'),
    ),
    opsPort: fromEnv(
      'EMOSTREAM_OPS_PORT',
      z.coerce
        .number()
        .int()
        .min(0)
        .max(65_535)
        .optional()
        .describe(
          "Port of /metrics, /healthz and /readyz (0 = any free port); unset, each stage's own (ingest 9401, face 9402, backbone 9403, temporal 9404, sink 9405), so stages side by side on one host all start.",
        ),
    ),
    opsHost: fromEnv(
      'EMOSTREAM_OPS_HOST',
      z
        .string()
        .min(1)
        .default('127.0.0.1')
        .describe(
          'Address the ops server binds: loopback by default (/metrics tells about the streams); the Kubernetes manifests set 0.0.0.0 so Prometheus and the kubelet reach it.',
        ),
    ),
    deadLetterImages: fromEnv(
      'EMOSTREAM_DLQ_KEEP_IMAGES',
      envBoolean
        .default(false)
        .describe(
          'Keep the biometric payloads (frames, face crops, face features) of dead-lettered messages; off: their size and SHA-256 only.',
        ),
    ),
    shutdownGraceMs: fromEnv(
      'EMOSTREAM_SHUTDOWN_GRACE_MS',
      z.coerce.number().int().positive().default(10_000).describe('Time to finish in-flight work on SIGTERM before a hard stop.'),
    ),
    sessionTimeoutMs: fromEnv(
      'EMOSTREAM_SESSION_TIMEOUT_MS',
      z.coerce
        .number()
        .int()
        .min(6_000)
        .default(DEFAULT_SESSION_TIMEOUT_MS)
        .describe("Consumer group session timeout: how soon a dead replica's partitions move."),
    ),
    maxRetries: fromEnv(
      'EMOSTREAM_MAX_RETRIES',
      z.coerce
        .number()
        .int()
        .min(0)
        .max(100)
        .default(5)
        .describe(
          'Retries of a batch whose handler failed with a retriable error, with growing back-off, before its inputs are dead-lettered.',
        ),
    ),
    retryBackoffMs: fromEnv(
      'EMOSTREAM_RETRY_BACKOFF_MS',
      z.coerce.number().int().positive().default(500).describe('First back-off of a retry; it doubles per attempt, up to 30 s.'),
    ),
    busUnreachableMs: fromEnv(
      'EMOSTREAM_BUS_UNREACHABLE_MS',
      z.coerce
        .number()
        .int()
        .positive()
        .default(15_000)
        .describe(
          'No answer from the bus for this long makes the process unready (/readyz 503), sets the bus_reachable metric to 0 and logs one warning; it keeps retrying and recovers by itself.',
        ),
    ),
    tracing: z
      .object({
        exporter: fromEnv('EMOSTREAM_TRACING_EXPORTER', z.enum(['none', 'otlp']).default('none').describe('Span exporter.')),
        endpoint: fromEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', z.string().url().optional().describe('OTLP/HTTP traces URL.')),
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

/** Environment variables of the runtime config, relative to its own root, as its fields declare them (`fromEnv`). */
export const runtimeEnvBindings: readonly EnvBinding[] = envBindingsOf(runtimeConfigSchema);
